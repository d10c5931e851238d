"""A study's data as researchers take it away: every event (one row each), one row per
participant and step (times, classifications, answers), and one row per participant (their
condition and the order they joined in). Columns added later go at the end: a researcher's script
that reads columns by position keeps working. Pure: rows in, rows out, one at a time
(an export of any size is written as it is read)."""

from __future__ import annotations

import csv
import io
import itertools
import json
from typing import Iterable, Iterator

from web_client.study.definition import IMPLICIT

EVENT_COLUMNS = ("id", "participant_id", "step", "kind", "at", "payload", "condition")
# A step's row as it starts; its keys, in this order, are the steps export's columns.
STEP_ROW = {"participant_id": "", "step": 0, "kind": "", "task": "", "started_at": None, "ended_at": None,
            "seconds": None, "classifications": 0, "strokes": 0, "map_views": 0, "first_map_view_s": None,
            "prediction": "", "answer": "", "condition": IMPLICIT}
STEP_COLUMNS = tuple(STEP_ROW)
PARTICIPANT_COLUMNS = ("participant_id", "condition", "number", "joined_at", "consented_at", "step", "finished_at")
# One row per participant and trial answered: the codebook is in docs/study.md.
TRIAL_COLUMNS = ("participant_id", "condition", "step", "kind", "phase", "photo", "choice", "confidence", "correct",
                 "model_label", "true_label", "model_correct", "ms", "answered_at", "candidates", "hidden_by",
                 "hidden_label")


def event_rows(events: Iterable[dict]) -> Iterator[dict]:
    for e in events:
        yield {"id": e["id"], "participant_id": e["participant_id"], "step": e["step"], "kind": e["kind"],
               "at": e["at"].isoformat(), "payload": e["payload"], "condition": e.get("condition", IMPLICIT)}


def participant_rows(participants: Iterable) -> Iterator[dict]:
    """One row per participant (store.Participant): `number` is the order they joined in, from 0,
    by which their condition was drawn (empty for those who joined before conditions existed)."""
    def at(value):
        return value.isoformat() if value else ""
    for p in participants:
        yield {"participant_id": p.id, "condition": p.condition or IMPLICIT, "number": p.number,
               "joined_at": at(p.created_at), "consented_at": at(p.consented_at), "step": p.step,
               "finished_at": at(p.finished_at)}


def trial_rows(events: Iterable[dict]) -> Iterator[dict]:
    """One row per `trial` event (a trial's answer), tidy: each column one variable, each row one
    participant's one trial. `candidates` is a JSON list in a CSV cell; booleans are True/False,
    unknowns (a photo with no true label, a forward trial's hidden_by) empty."""
    for e in events:
        if e["kind"] != "trial":
            continue
        p = e["payload"]
        yield {"participant_id": e["participant_id"], "condition": e.get("condition", IMPLICIT), "step": e["step"],
               "kind": p.get("kind"), "phase": p.get("phase"), "photo": p.get("photo"), "choice": p.get("choice"),
               "confidence": p.get("confidence"), "correct": p.get("correct"), "model_label": p.get("model_label"),
               "true_label": p.get("true_label"), "model_correct": p.get("model_correct"), "ms": p.get("ms"),
               "answered_at": e["at"].isoformat(), "candidates": p.get("candidates"),
               "hidden_by": p.get("hidden_by"), "hidden_label": p.get("hidden_label")}


def analysis_rows(rows: Iterable[dict]) -> list[dict]:
    """Trial rows as web_client.study.analysis reads them."""
    return [{"participant": r["participant_id"], "condition": r["condition"], "phase": r["phase"],
             "correct": bool(r["correct"]), "confidence": r["confidence"], "model_correct": r["model_correct"]}
            for r in rows]


def step_rows(study, events: Iterable[dict]) -> Iterator[dict]:
    """One row per participant and step they reached. `events` holds each participant's together
    (Store.events(by_participant=True)): their rows are made and given out before the next's."""
    for _, theirs in itertools.groupby(events, key=lambda e: e["participant_id"]):
        yield from _participant_steps(study, theirs)


def _participant_steps(study, events: Iterable[dict]) -> list[dict]:
    rows: dict[tuple[str, int], dict] = {}
    for e in events:
        if not 0 <= e["step"] < len(study.steps) or e["kind"] in ("consent", "finish"):
            continue
        step = study.steps[e["step"]]
        row = rows.setdefault((e["participant_id"], e["step"]), {
            **STEP_ROW, "participant_id": e["participant_id"], "step": e["step"], "kind": step.kind,
            "task": step.task or step.scale, "condition": e.get("condition", IMPLICIT)})
        kind, payload = e["kind"], e["payload"]
        if kind == "step-start" and row["started_at"] is None:
            row["started_at"] = e["at"]
        elif kind == "step-end":
            row["ended_at"] = e["at"]
        elif kind == "classify":
            row["classifications"] += 1
        elif kind == "stroke":
            row["strokes"] += 1
        elif kind == "map-view":
            row["map_views"] += 1
            if row["first_map_view_s"] is None and row["started_at"] is not None:
                row["first_map_view_s"] = round((e["at"] - row["started_at"]).total_seconds(), 3)
        elif kind == "prediction":
            row["prediction"] = str(payload.get("label", ""))
        elif kind == "answer":
            row["answer"] = str(payload.get("value", ""))
    for row in rows.values():
        if row["started_at"] and row["ended_at"]:
            row["seconds"] = round((row["ended_at"] - row["started_at"]).total_seconds(), 3)
        for key in ("started_at", "ended_at"):
            row[key] = row[key].isoformat() if row[key] else ""
    return list(rows.values())


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Written as they are: the store's participant ids (letters, digits, - and _: no formula can call
# anything with them) start with "-" one time in 64, and a quoted one would no longer be the id the
# JSON export, the URLs and pandas' joins know.
VERBATIM = ("participant_id",)


def cell(value):
    """A CSV cell that a spreadsheet shows as text: participants' words never run as formulas."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, separators=(",", ":"))
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(rows: Iterable[dict], columns: tuple[str, ...]) -> Iterator[str]:
    """The header, then a line per row, each written as it is wanted."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: v if k in VERBATIM else cell(v) for k, v in row.items()})
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def to_csv(rows: Iterable[dict], columns: tuple[str, ...]) -> str:
    return "".join(csv_lines(rows, columns))


def json_lines(rows: Iterable[dict]) -> Iterator[str]:
    """The rows as one JSON array, a row at a time."""
    yield "["
    for i, row in enumerate(rows):
        yield ("," if i else "") + json.dumps(row, separators=(",", ":"))
    yield "]\n"


TABLES = ("events", "steps", "participants", "trials")


def source(store, study_id: str, name: str):
    """What one of the exports is made from, as the store reads it a batch at a time (for steps,
    each participant's events together)."""
    if name == "participants":
        return store.participants(study_id)
    return store.events(study_id, by_participant=name == "steps")


def table(study, rows: Iterable, name: str) -> tuple[Iterator[dict], tuple[str, ...]]:
    """The rows and columns of one of the exports (TABLES), from its `source`."""
    if name == "events":
        return event_rows(rows), EVENT_COLUMNS
    if name == "participants":
        return participant_rows(rows), PARTICIPANT_COLUMNS
    if name == "trials":
        return trial_rows(rows), TRIAL_COLUMNS
    return step_rows(study, rows), STEP_COLUMNS
