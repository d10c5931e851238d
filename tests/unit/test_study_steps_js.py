"""What a study's step asks of a participant (static/js/study_steps.js), in Node: one table."""

import json

import pytest

from tests.js import needs_node, run_js

pytestmark = needs_node

FIELDS = ["photos", "paints", "explores", "showsMap", "predicts", "answersMap", "answersEachPhoto", "asks",
          "freeText", "scalePoints"]
STEPS = {  # step -> its capabilities, in FIELDS' order
    "before:paint": ({"kind": "before"}, [1, 1, 0, 0, 0, 1, 1, 0, 0, 0]),
    "after:paint": ({"kind": "after", "task": "paint"}, [1, 1, 0, 0, 0, 1, 1, 0, 0, 0]),
    "before, map: true": ({"kind": "before", "map": True}, [1, 1, 0, 0, 0, 1, 1, 0, 0, 0]),  # only explore shows it
    "before:predict": ({"kind": "before", "task": "predict"}, [1, 0, 0, 0, 1, 0, 1, 0, 0, 0]),
    "after:predict": ({"kind": "after", "task": "predict"}, [1, 0, 0, 0, 1, 0, 1, 0, 0, 0]),
    "explore": ({"kind": "explore", "minutes": 3}, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]),
    "explore with the map": ({"kind": "explore", "map": True}, [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]),
    "explore, task predict": ({"kind": "explore", "task": "predict"}, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]),
    "likert": ({"kind": "question", "scale": "likert"}, [0, 0, 0, 0, 0, 0, 0, 1, 0, 5]),
    "likert7": ({"kind": "question", "scale": "likert7"}, [0, 0, 0, 0, 0, 0, 0, 1, 0, 7]),
    "free text": ({"kind": "question", "scale": "text"}, [0, 0, 0, 0, 0, 0, 0, 1, 1, 0]),
}


@pytest.mark.parametrize("name", STEPS)
def test_each_kind_of_step_asks_for_what_it_should(name):
    step, expected = STEPS[name]
    got = run_js("study_steps.js", f"const c = m.stepCapabilities({json.dumps(step)}); "
                                   f"return {json.dumps(FIELDS)}.map((f) => Number(c[f]));")
    assert dict(zip(FIELDS, got)) == dict(zip(FIELDS, expected))
