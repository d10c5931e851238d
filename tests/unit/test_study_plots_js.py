"""The study summary's slope chart (static/js/study_plots.js), in Node."""

from tests.js import needs_node, run_js

pytestmark = needs_node


def test_a_line_per_participant_with_both_figures_rising_toward_the_model():
    out = run_js("study_plots.js", """
      const people = [{participant_id: "a", before_agreement: -0.5, after_agreement: 0.5},
                      {participant_id: "b", before_agreement: 0.2, after_agreement: 0.1},
                      {participant_id: "c", before_agreement: null, after_agreement: 0.9}];
      return {lines: m.slopeLines(people), top: m.agreementY(1), bottom: m.agreementY(-1), middle: m.agreementY(0)};""")
    assert [(l["id"], l["up"]) for l in out["lines"]] == [("a", True), ("b", False)]
    assert out["top"] == 28 and out["bottom"] == 172 and out["middle"] == 100
    assert out["lines"][0]["y1"] > out["lines"][0]["y2"], "higher agreement is drawn higher"
