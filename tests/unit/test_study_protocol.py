"""web_client/study/protocol.py: what a participant may record, when, and what it changes."""

import datetime as dt
from types import SimpleNamespace

import pytest

from web_client.study.definition import parse
from web_client.study.protocol import AlreadyAnswered, Finished, StoreError, changes

STUDY = parse({"id": "s", "title": "t", "consent": "c", "photos": ["coffee", "chelsea"],
               "steps": [{"kind": "before", "task": "paint"}, {"kind": "explore", "map": True},
                         {"kind": "explore"}]})
AT = dt.datetime(2026, 12, 7, tzinfo=dt.timezone.utc)


def who(step=0, consented=True, finished=False):
    return SimpleNamespace(step=step, consented_at=AT if consented else None, finished_at=AT if finished else None)


@pytest.mark.parametrize("participant, kind, step, photo, answered, outcome", [
    (who(consented=False), "consent", 0, None, set(), {"consented_at": AT}),
    (who(consented=False), "stroke", 0, None, set(), "consent comes first"),
    (who(finished=True), "stroke", 0, None, set(), Finished),
    (who(step=0), "step-end", 0, None, set(), {"step": 1}),
    (who(step=0), "classify", 0, None, set(), {}),
    (who(step=1), "classify", 0, None, set(), "on step 1, not 0"),           # none gone back to
    (who(step=0), "classify", 2, None, set(), "on step 0, not 2"),           # none skipped
    (who(step=0), "classify", 3, None, set(), "has steps 0 to 2"),
    (who(step=1), "map-view", 1, None, set(), {}),
    (who(step=2), "map-view", 2, None, set(), "does not show the model's map"),
    (who(step=0), "map", 0, "coffee", {"chelsea"}, {}),
    (who(step=0), "map", 0, "coffee", {"coffee"}, AlreadyAnswered),
    (who(step=2), "finish", 3, None, set(), "this participant is on step 2"),
    (who(step=3), "finish", 3, None, set(), {"finished_at": AT}),
])
def test_the_protocol(participant, kind, step, photo, answered, outcome):
    if isinstance(outcome, dict):
        assert changes(participant, STUDY, kind, step, AT, photo, answered) == outcome
    elif isinstance(outcome, str):
        with pytest.raises(StoreError, match=outcome):
            changes(participant, STUDY, kind, step, AT, photo, answered)
    else:
        with pytest.raises(outcome):
            changes(participant, STUDY, kind, step, AT, photo, answered)


CONDITIONED = parse({"id": "c", "title": "t", "consent": "c", "photos": ["coffee"],
                     "conditions": [{"name": "paint"}, {"name": "paint+map", "map": True},
                                    {"name": "map", "paint": False, "map": True}, {"name": "none", "paint": False}],
                     "steps": [{"kind": "before", "only": ["paint", "paint+map"]}, {"kind": "explore"},
                               {"kind": "question", "id": "q", "text": "?", "only": ["none"]}]})


def in_condition(condition, step):
    return SimpleNamespace(step=step, consented_at=AT, finished_at=None, condition=condition)


@pytest.mark.parametrize("condition, kind, masked, outcome", [
    ("paint", "stroke", False, {}),
    ("paint", "classify", True, {}),
    ("paint", "map-view", False, "condition 'paint' does not show the model's map"),
    ("paint+map", "map-view", False, {}),
    ("map", "map-view", False, {}),
    ("map", "classify", False, {}),  # the photo itself: its answer is shown in every condition
    ("map", "classify", True, "condition 'map' does not paint"),
    ("map", "stroke", False, "condition 'map' does not paint"),
    ("none", "classify", True, "condition 'none' does not paint"),
    ("none", "map-view", False, "condition 'none' does not show the model's map"),
])
def test_each_condition_refuses_what_it_does_not_show(condition, kind, masked, outcome):
    from web_client.study.protocol import NotInCondition
    if isinstance(outcome, dict):
        assert changes(in_condition(condition, 1), CONDITIONED, kind, 1, AT, masked=masked) == outcome
    else:
        with pytest.raises(NotInCondition, match=outcome) as refused:
            changes(in_condition(condition, 1), CONDITIONED, kind, 1, AT, masked=masked)
        assert refused.value.status == 403


def test_a_condition_goes_through_its_own_steps_only():
    from web_client.study.protocol import next_step, visible_steps
    assert {c.name: visible_steps(CONDITIONED, c) for c in CONDITIONED.conditions} == {
        "paint": [0, 1], "paint+map": [0, 1], "map": [1], "none": [1, 2]}
    assert next_step(CONDITIONED, CONDITIONED.condition("map"), -1) == 1  # where they start
    assert changes(in_condition("paint", 1), CONDITIONED, "step-end", 1, AT) == {"step": 3}  # the question skipped
    assert changes(in_condition("none", 1), CONDITIONED, "step-end", 1, AT) == {"step": 2}
    with pytest.raises(StoreError, match="on step 1, not 0"):  # a step not theirs is never theirs to record
        changes(in_condition("map", 1), CONDITIONED, "stroke", 0, AT)
    assert changes(in_condition("map", 3), CONDITIONED, "finish", 3, AT) == {"finished_at": AT}


def test_without_conditions_each_explore_step_says_whether_it_shows_the_map():
    # who() has no condition: a participant stored before conditions, in `all`.
    assert changes(who(step=1), STUDY, "stroke", 1, AT, masked=True) == {}
    with pytest.raises(StoreError, match="step 2 does not show the model's map"):
        changes(who(step=2), STUDY, "map-view", 2, AT)
