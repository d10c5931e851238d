"""What a study's step asks of a participant (static/js/study_steps.js), in Node: one table."""

import json

import pytest

from tests.js import needs_node, run_js

pytestmark = needs_node

FIELDS = ["photos", "paints", "explores", "showsMap", "predicts", "answersMap", "answersEachPhoto", "asks",
          "freeText", "scalePoints", "classifies", "answersPlainPhoto"]
STEPS = {  # step -> its capabilities, in FIELDS' order
    "before:paint": ({"kind": "before"}, [1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]),
    "after:paint": ({"kind": "after", "task": "paint"}, [1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]),
    "before, map: true": ({"kind": "before", "map": True}, [1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]),  # only explore shows it
    "before:predict": ({"kind": "before", "task": "predict"}, [1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]),
    "after:predict": ({"kind": "after", "task": "predict"}, [1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]),
    "explore": ({"kind": "explore", "minutes": 3}, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
    "explore with the map": ({"kind": "explore", "map": True}, [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0]),
    "explore, task predict": ({"kind": "explore", "task": "predict"}, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
    # A participant's condition, resolved by the server into the step's `paint` and `map`:
    "explore, paint": ({"kind": "explore", "paint": True, "map": False}, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
    "explore, map only": ({"kind": "explore", "paint": False, "map": True}, [1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1]),
    "explore, neither": ({"kind": "explore", "paint": False, "map": False}, [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
    "before, paint false": ({"kind": "before", "paint": False}, [1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]),  # its answer
    "likert": ({"kind": "question", "scale": "likert"}, [0, 0, 0, 0, 0, 0, 0, 1, 0, 5, 0, 0]),
    "likert7": ({"kind": "question", "scale": "likert7"}, [0, 0, 0, 0, 0, 0, 0, 1, 0, 7, 0, 0]),
    "free text": ({"kind": "question", "scale": "text"}, [0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0]),
}


@pytest.mark.parametrize("name", STEPS)
def test_each_kind_of_step_asks_for_what_it_should(name):
    step, expected = STEPS[name]
    got = run_js("study_steps.js", f"const c = m.stepCapabilities({json.dumps(step)}); "
                                   f"return {json.dumps(FIELDS)}.map((f) => Number(c[f]));")
    assert dict(zip(FIELDS, got)) == dict(zip(FIELDS, expected))


def test_a_participants_place_among_their_own_steps():
    steps = [{"kind": "before", "index": 0}, {"kind": "explore", "index": 2}]
    got = run_js("study_steps.js", f"const s = {json.dumps(steps)}; "
                                   "return [2, 0, 1, 3].map((i) => { const p = m.stepPosition(s, i); "
                                   "return [p.step && p.step.index, p.number, p.of]; });")
    assert got == [[2, 2, 2], [0, 1, 2], [None, 0, 2], [None, 0, 2]]  # step 1 is not theirs; 3: past the end
