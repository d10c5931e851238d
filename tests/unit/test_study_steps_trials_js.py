"""A trial step's capabilities (static/js/study_steps.js), in Node: its own photos, no painting, no canvas."""

import json

import pytest

from tests.js import needs_node, run_js

pytestmark = needs_node


@pytest.mark.parametrize("kind", ["forward", "counterfactual"])
def test_a_trial_step_shows_its_own_photos_with_choices_and_nothing_to_paint(kind):
    got = run_js("study_steps.js", f"return m.stepCapabilities({json.dumps({'kind': kind, 'phase': 'pre', 'photos': 3})});")
    assert got["trial"] and got["photoCount"] == 3 and got["answersEachPhoto"]
    assert not any(got[k] for k in ("photos", "paints", "predicts", "answersMap", "explores", "asks", "classifies"))
