"""Simulation trials' pure rules (web_client/study/trials.py) and their study-file syntax."""

import pytest

from web_client.study import dataset, trials
from web_client.study.definition import Study, StudyError, check_labels, parse

BASE = {"id": "s", "title": "t", "consent": "c", "photos": ["coffee"]}


def test_candidates_add_the_true_class_once_and_shuffle_per_participant_and_photo():
    top = ["espresso", "cup", "eggnog", "ladle"]
    assert sorted(trials.candidates(top, "cup", "p1", "coffee")) == ["cup", "eggnog", "espresso"]
    assert sorted(trials.candidates(top, "plate", "p1", "coffee")) == ["cup", "eggnog", "espresso", "plate"]
    assert trials.candidates(top, None, "p1", "coffee") == trials.candidates(top, None, "p1", "coffee")
    orders = {tuple(trials.candidates(top, "plate", f"p{i}", "coffee")) for i in range(40)}
    assert len(orders) > 5  # position says nothing about which is the model's
    firsts = [trials.candidates(top, "plate", f"p{i}", "coffee")[0] for i in range(400)]
    assert 60 < firsts.count("espresso") < 140  # the model's class first about a quarter of the time


def test_counterfactual_regions_alternate_and_rectangles_keep_away():
    assert [trials.hides_search_region(n, 0) for n in range(4)] == [True, False, True, False]
    assert [trials.hides_search_region(0, k) for k in range(4)] == [True, False, True, False]
    box = trials.rectangle_away(400, 300, 0.25, (0, 0, 100, 100))
    assert box == (200, 150, 400, 300)  # a quarter of the photo, in the corner farthest from the region
    assert trials.rectangle_away(400, 300, 0.25, (300, 200, 400, 300)) == (0, 0, 200, 150)


def test_answers_are_one_of_those_offered_with_a_confidence_of_one_to_five():
    assert trials.check_answer("forward", "cup", 3, ["cup", "plate"]) is None
    assert "one of" in trials.check_answer("forward", "bowl", 3, ["cup", "plate"])
    for confidence in (0, 6, 2.5, True, "3"):
        assert "confidence" in trials.check_answer("counterfactual", "yes", confidence, trials.ANSWERS)


def test_trial_steps_labels_and_control_in_a_study_file():
    study = parse({**BASE, "labels": {"rocket": "missile"}, "control": "none",
                   "conditions": [{"name": "map", "map": True}, {"name": "none", "paint": False}],
                   "steps": [{"kind": "forward", "phase": "pre", "photos": ["rocket", "china"]}, {"kind": "explore"},
                             {"kind": "counterfactual", "phase": "post", "photos": ["rocket"]}]})
    assert study.steps[0].photos == ("rocket", "china") and study.steps[2].phase == "post"
    assert parse(__import__("json").loads(study.to_json())) == study  # stored and read back the same
    check_labels(study, ["missile", "cup"])
    with pytest.raises(StudyError, match=r"rocket \('missile'\)"):
        check_labels(study, ["cup"])
    wrong = [({"steps": [{"kind": "forward", "photos": ["rocket"]}]}, "`phase` is pre or post"),
             ({"steps": [{"kind": "forward", "phase": "pre", "photos": []}]}, "non-empty list"),
             ({"steps": [{"kind": "forward", "phase": "pre", "photos": ["coffee"]}]}, "held out"),
             ({"steps": [{"kind": "forward", "phase": "pre", "photos": ["a", "a"]}]}, "each photo once"),
             ({"steps": [{"kind": "forward", "phase": "pre", "photos": ["a"], "map": True}]}, "unknown field"),
             ({"labels": {"b": "cup"}, "steps": [{"kind": "forward", "phase": "pre", "photos": ["a"]}]},
              "does not show: b"),
             ({"control": "other", "steps": [{"kind": "explore"}]}, "`control` names")]
    for extra, message in wrong:
        with pytest.raises(StudyError, match=message):
            parse({**BASE, **extra})


def test_a_study_file_from_before_trials_reads_and_stores_as_it_did():
    old = {**BASE, "steps": [{"kind": "before", "task": "paint"}, {"kind": "explore", "map": True}]}
    study = parse(old)
    assert isinstance(study, Study) and study.labels == {} and study.control == ""
    assert "labels" not in study.to_json() and "photos\": []" not in study.to_json()


def test_trial_rows_are_tidy_and_what_the_analysis_reads():
    import datetime as dt
    at = dt.datetime(2026, 12, 8, tzinfo=dt.timezone.utc)
    events = [{"participant_id": "p", "condition": "map", "step": 0, "kind": "trial-start", "at": at, "payload": {}},
              {"participant_id": "p", "condition": "map", "step": 0, "kind": "trial", "at": at, "payload": {
                  "kind": "forward", "phase": "pre", "photo": "rocket", "choice": "missile", "confidence": 4,
                  "correct": True, "model_label": "missile", "true_label": None, "model_correct": None, "ms": 1234,
                  "candidates": ["missile", "cup"]}}]
    rows = list(dataset.trial_rows(events))
    assert len(rows) == 1 and tuple(rows[0]) == dataset.TRIAL_COLUMNS
    assert dataset.to_csv(rows, dataset.TRIAL_COLUMNS).splitlines()[1] == (
        'p,map,0,forward,pre,rocket,missile,4,True,missile,,,1234,2026-12-08T00:00:00+00:00,'
        '"[""missile"",""cup""]",,')
    assert dataset.analysis_rows(rows) == [{"participant": "p", "condition": "map", "phase": "pre", "correct": True,
                                            "confidence": 4, "model_correct": None}]
