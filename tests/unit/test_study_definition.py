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


CONDITIONS = [{"name": "paint"}, {"name": "paint+map", "map": True}, {"name": "map", "paint": False, "map": True},
              {"name": "none", "paint": False}]
WITH_CONDITIONS = {**GOOD, "conditions": CONDITIONS, "assignment": {"block": 8, "seed": 7},
                   "steps": [{"kind": "before"}, {"kind": "explore", "minutes": 3},
                             {"kind": "question", "id": "painting", "text": "Did painting help?",
                              "only": ["paint", "paint+map"]}]}


def test_a_study_without_conditions_is_one_condition_and_keeps_its_json():
    study = parse(GOOD)
    (only,) = study.conditions_or_all
    assert (only.name, only.paint, only.map) == ("all", True, None) and study.block_size == 1
    assert study.condition(None) == only  # a participant stored before conditions existed
    assert set(json.loads(study.to_json())) == {"id", "title", "consent", "photos", "model", "fill", "steps"}


def test_conditions_load_and_round_trip():
    study = parse(WITH_CONDITIONS)
    assert [(c.name, c.paint, c.map) for c in study.conditions] == [
        ("paint", True, False), ("paint+map", True, True), ("map", False, True), ("none", False, False)]
    assert study.block == 8 and study.seed == 7 and study.steps[2].only == ("paint", "paint+map")
    assert parse(json.loads(study.to_json())) == study
    assert parse({**WITH_CONDITIONS, "assignment": {"seed": 7}}).block_size == 4  # one of each a block


@pytest.mark.parametrize("change, message", [
    ({"conditions": []}, "`conditions` is a non-empty list"),
    ({"conditions": [{"name": f"c{i}"} for i in range(9)]}, "9 conditions; at most 8"),
    ({"conditions": [{"name": "Paint Map"}]}, "condition 1: `name` must be lower-case letters, digits, dashes and +"),
    ({"conditions": [{"name": "a"}, {"name": "a"}]}, r"condition\(s\) a named twice"),
    ({"conditions": [{"name": "a", "paint": "yes"}]}, r"condition 1 \(a\): `paint` and `map` are true or false"),
    ({"conditions": [{"name": "a", "colour": 1}]}, r"condition 1: unknown field\(s\) colour"),
    ({"steps": [{"kind": "explore", "only": ["paint", "sing"]}]}, r"step 1 \(explore\): `only` names sing"),
    ({"steps": [{"kind": "before", "only": "paint"}]}, r"step 1 \(before\): `only` is a list of condition names"),
    ({"steps": [{"kind": "explore", "map": True}]}, r"step 1 \(explore\): `map` is each condition's"),
    ({"steps": [{"kind": "before", "only": ["paint"]}]}, "condition paint\\+map sees no step"),
    ({"assignment": {"block": 6}}, r"`block` is a multiple of the number of conditions \(4\)"),
    ({"assignment": {"block": 0}}, "`block` is a multiple"),
    ({"assignment": {"seed": -1}}, "`seed` is a whole number from 0"),
    ({"assignment": {"seed": 2 ** 60}}, "`seed` is a whole number from 0"),
    ({"assignment": {"order": "abc"}}, "`assignment` is a mapping with `block` and `seed`"),
])
def test_each_mistake_in_conditions_is_named(change, message):
    with pytest.raises(StudyError, match=message):
        parse({**WITH_CONDITIONS, **change})


def test_only_names_the_implicit_condition_in_a_study_without_conditions():
    assert parse({**GOOD, "steps": [{"kind": "before", "only": ["all"]}]}).steps[0].only == ("all",)
    with pytest.raises(StudyError, match="`only` names paint; the conditions are all"):
        parse({**GOOD, "steps": [{"kind": "before", "only": ["paint"]}]})
