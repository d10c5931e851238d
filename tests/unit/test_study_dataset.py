"""web_client/study/dataset.py: the exports' rows, a row at a time, safe in a spreadsheet."""

import csv
import datetime as dt
import io
import json

from web_client.study.dataset import STEP_COLUMNS, cell, csv_lines, json_lines, step_rows
from web_client.study.definition import parse

STUDY = parse({"id": "s", "title": "t", "consent": "c", "photos": ["coffee"],
               "steps": [{"kind": "before", "task": "predict"}, {"kind": "question", "id": "q", "text": "?"}]})
T0 = dt.datetime(2026, 12, 7, tzinfo=dt.timezone.utc)


def event(pid, step, kind, seconds, **payload):
    return {"participant_id": pid, "step": step, "kind": kind, "at": T0 + dt.timedelta(seconds=seconds),
            "payload": payload}


def test_a_row_per_participant_and_step_from_each_participants_events_together():
    events = [event("a", 0, "step-start", 0), event("a", 0, "classify", 1), event("a", 0, "prediction", 2, label="cup"),
              event("a", 0, "step-end", 3), event("a", 1, "answer", 5, value="=SUM(A1)"),
              event("b", 0, "step-start", 0), event("b", 0, "stroke", 1)]
    rows = list(step_rows(STUDY, iter(events)))
    assert [(r["participant_id"], r["step"]) for r in rows] == [("a", 0), ("a", 1), ("b", 0)]
    assert rows[0]["seconds"] == 3 and rows[0]["classifications"] == 1 and rows[0]["prediction"] == "cup"
    assert rows[2]["strokes"] == 1 and rows[2]["ended_at"] == ""
    text = "".join(csv_lines(rows, STEP_COLUMNS))
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed[1]["answer"] == "'=SUM(A1)"  # never run as a formula
    assert json.loads("".join(json_lines(rows)))[2]["participant_id"] == "b"
    assert json.loads("".join(json_lines([]))) == []


def test_a_cell_is_text_a_spreadsheet_shows():
    assert cell("+1") == "'+1" and cell("plain") == "plain" and cell({"a": 1}) == '{"a":1}' and cell(3) == 3


def test_a_participant_id_that_starts_with_a_dash_is_written_as_it_is():
    """secrets.token_urlsafe's ids start with "-" one time in 64: the CSV's must be the real id."""
    rows = [{**dict.fromkeys(STEP_COLUMNS, ""), "participant_id": "-Ka1dZlGwzngPbCOd", "answer": "-1+2"}]
    (parsed,) = csv.DictReader(io.StringIO("".join(csv_lines(rows, STEP_COLUMNS))))
    assert parsed["participant_id"] == "-Ka1dZlGwzngPbCOd" and parsed["answer"] == "'-1+2"


def test_the_condition_is_a_new_last_column_of_each_export_and_participants_have_their_own():
    from types import SimpleNamespace

    from web_client.study.dataset import EVENT_COLUMNS, PARTICIPANT_COLUMNS, event_rows, participant_rows
    # The columns researchers' scripts already read, in their order; new ones after them.
    assert EVENT_COLUMNS[:6] == ("id", "participant_id", "step", "kind", "at", "payload")
    assert EVENT_COLUMNS[-1] == STEP_COLUMNS[-1] == "condition"
    assert STEP_COLUMNS[:13] == ("participant_id", "step", "kind", "task", "started_at", "ended_at", "seconds",
                                 "classifications", "strokes", "map_views", "first_map_view_s", "prediction", "answer")
    logged = [{**event("a", 0, "step-start", 0), "id": 1, "condition": "paint+map"}]
    assert next(event_rows(logged))["condition"] == "paint+map"
    assert next(step_rows(STUDY, iter(logged)))["condition"] == "paint+map"
    assert next(step_rows(STUDY, iter([event("a", 0, "step-start", 0)])))["condition"] == "all"
    people = [SimpleNamespace(id="a", condition="none", number=3, created_at=T0, consented_at=None, step=1,
                              finished_at=None),
              SimpleNamespace(id="b", condition=None, number=None, created_at=T0, consented_at=T0, step=2,
                              finished_at=T0)]
    rows = list(participant_rows(people))
    assert [r["condition"] for r in rows] == ["none", "all"] and rows[0]["number"] == 3
    assert rows[0]["consented_at"] == "" and rows[1]["finished_at"] == T0.isoformat()
    assert tuple(rows[0]) == PARTICIPANT_COLUMNS
