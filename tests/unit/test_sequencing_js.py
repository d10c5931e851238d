"""Which answer the page shows (static/js/sequencing.js), in Node: the newest, never an older one."""

from tests.js import needs_node, run_js

pytestmark = needs_node


def test_an_older_answer_never_replaces_a_newer_one_and_an_answer_settles_every_older_request():
    out = run_js("sequencing.js", """
      const s = new m.Sequencer();
      const [a, b, c] = [s.next(), s.next(), s.next()];
      s.wait(a, "a"); s.wait(b, "b"); s.wait(c, "c");
      const settled = s.settle(b);   // the stream skipped a: b's answer settles both
      s.show(b);
      return {settled, left: [...s.pending.keys()], stale: [s.isStale(a), s.isStale(b), s.isStale(c)],
              latest: [s.isLatest(b), s.isLatest(c)]};""")
    assert out["settled"] == "b" and out["left"] == [3]
    assert out["stale"] == [True, False, False] and out["latest"] == [False, True]
