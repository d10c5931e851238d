"""The session's steps (static/js/history.js), in Node: parents, and a class pinned after the fact."""

from tests.js import needs_node, run_js

pytestmark = needs_node


def test_each_step_is_painted_on_the_current_one_and_a_pinned_class_is_filled_in_where_it_can_be():
    out = run_js("history.js", """
      const h = new m.History();
      const answer = (p) => ({predictions: [{class_index: 1, probability: p}], tracked: []});
      h.add({title: "photo", mask: null, result: answer(0.9)});
      h.add({title: "one", mask: "png", result: answer(0.5)});
      h.select(0);  // the photo brought back, then painted again
      h.add({title: "two", mask: "png", result: answer(0.4)});
      h.backfill(7, "seven", new Map([[7, 0.25]]));
      return {parents: h.steps.map((s) => s.parent), current: h.current, trace: h.trace(7), top: h.trace(1)};""")
    assert out["parents"] == [-1, 0, 0] and out["current"] == 2
    assert out["trace"] == [0.25, None, None], "only the unpainted photo's answer knows every class"
    assert out["top"] == [0.9, 0.5, 0.4]


def test_a_pin_follows_its_label_to_another_model():
    out = run_js("history.js", """
      const pinned = {class_index: 1, label: "malignant"};
      return [m.pinOn(pinned, ["benign", "needs a look", "malignant"]), m.pinOn(pinned, ["tench", "goldfish"]),
              m.pinOn(null, ["a"]), m.pinOn({class_index: 134, label: "crane"}, ["x", "crane", "crane"])];""")
    assert out == [{"class_index": 2, "label": "malignant"}, None, None, {"class_index": 1, "label": "crane"}]


def test_a_pin_on_the_second_of_two_same_named_classes_stays_there():
    """ImageNet has two cranes (134, the bird; 517, the machine): a pin keeps its own."""
    out = run_js("history.js", """
      const labels = Array.from({length: 1000}, (_, k) => k === 134 || k === 517 ? "crane" : `c${k}`);
      return [m.pinOn({class_index: 517, label: "crane"}, labels), m.pinOn({class_index: 134, label: "crane"}, labels)];""")
    assert out == [{"class_index": 517, "label": "crane"}, {"class_index": 134, "label": "crane"}]
