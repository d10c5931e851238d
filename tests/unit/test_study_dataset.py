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
