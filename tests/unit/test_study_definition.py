"""Study files: a good one loads whole (YAML or JSON), and each mistake is named where it is."""

import json

import pytest

from web_client.study.definition import StudyError, load, parse

GOOD = {"id": "does-painting-teach", "title": "What does the classifier look at?", "consent": "I agree.",
        "photos": ["coffee", "chelsea"], "fill": "blur",
        "steps": [{"kind": "before", "task": "paint"}, {"kind": "before", "task": "predict"},
                  {"kind": "explore", "map": True, "minutes": 3}, {"kind": "after"},
                  {"kind": "question", "id": "clarity", "text": "It made sense", "scale": "likert7"}]}


def test_a_good_study_loads_from_yaml_and_json(tmp_path):
    import yaml
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(GOOD))
    (tmp_path / "s.json").write_text(json.dumps(GOOD))
    a, b = load(tmp_path / "s.yaml"), load(tmp_path / "s.json")
    assert a == b and a.steps[2].map and a.steps[2].minutes == 3 and a.steps[3].task == "paint"
    assert a.steps[4].scale == "likert7" and a.fill == "blur"
    assert parse(json.loads(a.to_json())) == a  # what the store keeps loads back the same


@pytest.mark.parametrize("change, message", [
    ({"id": "Has Spaces"}, "`id` must be lower-case"),
    ({"photos": []}, "`photos` is a non-empty list"),
    ({"photos": ["coffee", "chelsea", "coffee"]}, "each photo once; listed more than once: coffee"),
    ({"steps": []}, "`steps` is a non-empty list"),
    ({"steps": [{"kind": "dance"}]}, "step 1: kind 'dance'"),
    ({"steps": [{"kind": "before", "task": "sing"}]}, r"step 1 \(before\): task 'sing'"),
    ({"steps": [{"kind": "explore", "minutes": -1}]}, "`minutes` is a number from 0 to 240"),
    ({"steps": [{"kind": "explore", "scale": "text"}]}, r"unknown field\(s\) scale"),
    ({"steps": [{"kind": "question", "id": "q", "text": "?", "scale": "stars"}]}, "scale 'stars'"),
    ({"steps": [{"kind": "question", "id": "q", "text": "a"}, {"kind": "question", "id": "q", "text": "b"}]},
     "question id\\(s\\) q used twice"),
    ({"fill": "glitter"}, "fill 'glitter'"),
    ({"title": ""}, "`title` must be a non-empty string"),
    ({"colour": "red"}, r"unknown field\(s\) colour"),
])
def test_each_mistake_is_named(change, message):
    with pytest.raises(StudyError, match=message):
        parse({**GOOD, **change})


def test_files_that_do_not_parse(tmp_path):
    (tmp_path / "bad.yaml").write_text("id: [unclosed\n")
    with pytest.raises(StudyError, match="does not parse"):
        load(tmp_path / "bad.yaml")
    (tmp_path / "s.txt").write_text("{}")
    with pytest.raises(StudyError, match=r"\.yaml, \.yml or \.json"):
        load(tmp_path / "s.txt")
    with pytest.raises(StudyError, match="does not exist"):
        load(tmp_path / "missing.yaml")
