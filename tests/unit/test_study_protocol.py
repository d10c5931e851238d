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
