"""Simulation trials through the API, on the real inference service, with SQLite and a real
PostgreSQL server: forward and counterfactual trials shown without the model's answer, answered
once, scored against the model's own answer, timed from the server's showing, and exported one
row per participant and trial (read back as a table) into summary.json's `simulation`; and a small
fixed dataset (tests/study/fixed_trials.py) whose exports pandas reads back as documented and whose
simulation figures are the ones worked out by hand."""

import base64
import csv
import io
import json

import pandas as pd
import pytest
import yaml

from tests.study import fixed_trials
from tests.web.test_study import ADMIN, TOKEN, study_client
from web_client import create_app
from web_client.study import dataset, trials

STUDY = {"id": "simulation", "title": "Can you predict the model?", "consent": "I agree.", "photos": ["coffee"],
         "labels": {"rocket": "missile", "chelsea": "cup"},  # chelsea's is wrong on purpose: the model is "incorrect"
         "steps": [{"kind": "forward", "phase": "pre", "photos": ["rocket", "chelsea", "china"]},
                   {"kind": "explore"},
                   {"kind": "counterfactual", "phase": "post", "photos": ["rocket", "chelsea"]}]}


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request, server, tmp_path):
    yield from study_client(request, server, tmp_path, STUDY)


def joined(client):
    participant = client.post(f"/api/study/{STUDY['id']}/participants").get_json()["participant"]
    base = f"/api/study/{STUDY['id']}/participants/{participant}"
    assert client.post(f"{base}/events", json={"kind": "consent", "step": 0}).status_code == 201
    return participant, base


def model_top(client, photo, k=3, mask=None):
    data = {"image": (io.BytesIO(open(f"web_client/static/samples/{photo}.jpg", "rb").read()), "p.jpg"),
            "top_k": str(k)}
    if mask:
        data["mask"] = (io.BytesIO(mask), "m.png")
    return [p["label"] for p in client.post("/api/classify", data=data).get_json()["predictions"]]


def step_end(client, base, step):
    return client.post(f"{base}/events", json={"kind": "step-end", "step": step})


def test_a_forward_trial_never_shows_the_answer_is_answered_once_and_scored(client):
    participant, base = joined(client)
    state = client.get(base).get_json()
    assert state["study"]["steps"][0] == {"kind": "forward", "phase": "pre", "photos": 3, "index": 0, "map": False,
                                          "paint": True}
    assert "labels" not in state["study"] and "rocket" not in str(state)  # no names, no true classes
    shown = client.post(f"{base}/trials", json={"step": 0, "photo": 0})
    assert shown.status_code == 200
    body = shown.get_json()
    top = model_top(client, "rocket")
    assert set(body) == {"step", "photo", "kind", "choices", "image"}  # nothing says which is the model's
    assert sorted(body["choices"]) == sorted(dict.fromkeys(top + ["missile"]))
    assert body["choices"] == trials.candidates(top, "missile", participant, "rocket")
    assert body["image"].startswith("data:image/jpeg;base64,")
    assert client.post(f"{base}/trials", json={"step": 0, "photo": 0}).get_json() == body  # the same trial again
    # Answers: only what was offered, a confidence of 1-5, once.
    for wrong in ({"choice": "not offered", "confidence": 3}, {"choice": top[0], "confidence": 6},
                  {"choice": top[0], "confidence": True}):
        assert client.post(f"{base}/trials/answer", json={"step": 0, "photo": 0, **wrong}).status_code == 400
    assert client.post(f"{base}/trials/answer", json={"step": 0, "photo": 1, "choice": "cup",
                                                       "confidence": 3}).status_code == 400  # not shown yet
    answered = client.post(f"{base}/trials/answer", json={"step": 0, "photo": 0, "choice": top[0], "confidence": 4})
    assert answered.status_code == 201 and set(answered.get_json()) == {"event"}  # no score for the participant
    again = client.post(f"{base}/trials/answer", json={"step": 0, "photo": 0, "choice": top[1], "confidence": 5})
    assert again.status_code == 409 and again.get_json()["code"] == "AlreadyAnswered"
    assert client.get(base).get_json()["photo"] == 1  # a reload goes on from the next photo
    # The page cannot write a trial's events itself.
    forged = client.post(f"{base}/events", json={"kind": "trial", "step": 0, "payload": {"photo": 1}})
    assert forged.status_code == 400
    # chelsea: the true class given is not the model's, so the model is "incorrect" there.
    body = client.post(f"{base}/trials", json={"step": 0, "photo": 1}).get_json()
    wrong_choice = next(c for c in body["choices"] if c != model_top(client, "chelsea")[0])
    assert client.post(f"{base}/trials/answer", json={"step": 0, "photo": 1, "choice": wrong_choice,
                                                       "confidence": 2}).status_code == 201
    rows = client.get(f"/api/admin/studies/{STUDY['id']}/trials.json", headers=ADMIN).get_json()
    assert [(r["photo"], r["correct"], r["model_correct"], r["choice"], r["confidence"]) for r in rows] == [
        ("rocket", True, top[0] == "missile", top[0], 4), ("chelsea", False, False, wrong_choice, 2)]
    assert all(r["ms"] >= 0 and r["phase"] == "pre" and r["kind"] == "forward" for r in rows)


def test_a_counterfactual_trial_is_scored_by_the_model_with_that_region_hidden(client):
    participant, base = joined(client)
    for step in (0, 1):
        assert step_end(client, base, step).status_code == 201
    assert client.post(f"{base}/trials", json={"step": 0, "photo": 0}).status_code == 400  # not on that step
    kinds = []
    for photo, name in enumerate(("rocket", "chelsea")):
        body = client.post(f"{base}/trials", json={"step": 2, "photo": photo}).get_json()
        assert body["choices"] == ["yes", "no"] and body["label"] == model_top(client, name, 1)[0]
        assert set(body) == {"step", "photo", "kind", "choices", "image", "label"}
        assert client.post(f"{base}/trials/answer", json={"step": 2, "photo": photo, "choice": "yes",
                                                           "confidence": 3}).status_code == 201
    events = client.get(f"/api/admin/studies/{STUDY['id']}/events.json", headers=ADMIN).get_json()
    starts = [e["payload"] for e in events if e["kind"] == "trial-start"]
    rows = client.get(f"/api/admin/studies/{STUDY['id']}/trials.json", headers=ADMIN).get_json()
    for start, row in zip(starts, rows, strict=True):
        hidden = model_top(client, start["photo"], 1, base64.b64decode(start["mask"]))[0]
        still = hidden == start["model_label"]
        assert row["correct"] == still and row["hidden_label"] == hidden  # "yes" is right when it still says it
        kinds.append(row["hidden_by"])
    assert sorted(kinds) == ["rectangle", "search"]  # alternating along the step's photos


def test_trials_export_and_simulation_summary(client):
    _, base = joined(client)
    for photo in range(3):
        choices = client.post(f"{base}/trials", json={"step": 0, "photo": photo}).get_json()["choices"]
        client.post(f"{base}/trials/answer", json={"step": 0, "photo": photo, "choice": choices[0], "confidence": 5})
    text = client.get(f"/api/admin/studies/{STUDY['id']}/trials.csv", headers=ADMIN).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))  # pandas: test_the_exports_read_back_with_pandas
    assert len(rows) == 3 and list(rows[0]) == list(__import__("web_client.study.dataset", fromlist=["x"]).TRIAL_COLUMNS)
    assert {r["correct"] for r in rows} <= {"True", "False"} and rows[2]["model_correct"] == ""  # china: no label
    summary = client.get(f"/api/admin/studies/{STUDY['id']}/summary.json", headers=ADMIN).get_json()
    pre = summary["simulation"]["conditions"]["all"]["pre"]
    right = sum(r["correct"] == "True" for r in rows) / 3
    assert pre["all"]["trials"] == 3 and pre["all"]["accuracy"]["value"] == pytest.approx(right)
    assert pre["all"]["confidence"]["value"] == 5 and pre["model_correct"]["trials"] + pre["model_incorrect"]["trials"] == 2
    assert summary["simulation"]["bootstrap"] == {"resamples": 2000, "seed": 0, "level": 0.95, "over": "participants"}


def test_true_classes_must_be_the_models(server, tmp_path):
    app = create_app({"TESTING": True, "INFERENCE_ADDR": server.address,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}", "ADMIN_TOKEN": TOKEN})
    response = app.test_client().post("/api/admin/studies", headers=ADMIN, data=yaml.safe_dump(
        {**STUDY, "labels": {"rocket": "a space rocket"}}))
    assert response.status_code == 400 and "rocket ('a space rocket')" in response.get_json()["error"]


@pytest.fixture
def fixed(client):
    """The fixed dataset's study, added through the API (its labels checked against the model), and
    its trials written through the web app's store: {role: participant id}."""
    assert client.post("/api/admin/studies", json=fixed_trials.STUDY, headers=ADMIN).status_code == 201
    yield fixed_trials.record_trials(client.application.extensions["maskscope.study"]["store"])
    client.delete(f"/api/admin/studies/{fixed_trials.STUDY['id']}", headers=ADMIN)


def read_csv(client, table, **options):
    response = client.get(f"/api/admin/studies/{fixed_trials.STUDY['id']}/{table}.csv", headers=ADMIN)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return pd.read_csv(io.BytesIO(response.get_data()), **options)  # as is: no options


def test_the_exports_read_back_with_pandas(client, fixed):
    trials_ = read_csv(client, "trials")
    # The codebook's columns in order, one row per trial answered, no column taken for an index.
    assert list(trials_.columns) == list(dataset.TRIAL_COLUMNS)
    assert isinstance(trials_.index, pd.RangeIndex) and len(trials_) == sum(map(len, fixed_trials.ANSWERS.values()))
    dtypes = {c: str(t) for c, t in trials_.dtypes.items()}
    assert {c: dtypes[c] for c in ("step", "confidence", "ms", "correct")} == {
        "step": "int64", "confidence": "int64", "ms": "int64", "correct": "bool"}
    text = ("participant_id", "condition", "kind", "phase", "photo", "choice", "model_label", "true_label",
            "answered_at", "candidates", "hidden_by", "hidden_label")
    assert all(pd.api.types.is_string_dtype(trials_[c]) for c in text)
    roles = {pid: name for name, pid in fixed.items()}
    assert [(roles[r.participant_id], r.step, r.photo, r.correct, r.confidence) for r in trials_.itertuples()] == [
        (name, *answer) for name in fixed for answer in fixed_trials.ANSWERS[name]]  # in the order stored
    assert set(trials_.condition) == {"paint", "none"} and set(trials_.phase) == {"pre", "post"}
    # Unknowns are empty cells, read as missing: china has no true class, a forward trial no region.
    china = trials_[trials_.photo == "china"]
    assert china.true_label.isna().all() and china.model_correct.isna().all()
    labelled = trials_[trials_.photo != "china"]
    assert set(labelled.model_correct) == {True, False} and labelled.true_label.notna().all()
    assert trials_[trials_.kind == "forward"].hidden_by.isna().all()
    cells = read_csv(client, "trials", dtype=str, keep_default_na=False)  # as R's read.csv sees them: empty
    assert set(cells[cells.photo == "china"].model_correct) == set(cells[cells.photo == "china"].true_label) == {""}
    assert set(cells[cells.kind == "forward"].hidden_by) == {""} and set(cells.correct) == {"True", "False"}
    assert set(trials_[trials_.kind == "counterfactual"].hidden_by) == {"search", "rectangle"}
    assert trials_.candidates.map(json.loads).map(len).tolist() == [
        3 if kind == "forward" else 2 for kind in trials_.kind]
    assert pd.to_datetime(trials_.answered_at, format="ISO8601").is_monotonic_increasing

    events = read_csv(client, "events")
    assert list(events.columns) == list(dataset.EVENT_COLUMNS) and isinstance(events.index, pd.RangeIndex)
    assert (str(events.id.dtype), str(events.step.dtype)) == ("int64", "int64") and events.id.is_unique
    assert events.kind.value_counts()["trial"] == len(trials_)
    assert [json.loads(p)["photo"] for p in events[events.kind == "trial"].payload] == trials_.photo.tolist()
    assert pd.to_datetime(events["at"], format="ISO8601").notna().all()

    steps = read_csv(client, "steps")
    assert list(steps.columns) == list(dataset.STEP_COLUMNS) and isinstance(steps.index, pd.RangeIndex)
    assert {c: str(steps[c].dtype) for c in ("step", "classifications", "strokes", "map_views", "seconds")} == {
        "step": "int64", "classifications": "int64", "strokes": "int64", "map_views": "int64", "seconds": "float64"}
    assert sorted(zip(steps.participant_id, steps.step, steps.kind)) == sorted(
        (pid, step, kind) for pid in fixed.values() for step, kind in ((0, "forward"), (1, "counterfactual")))
    assert steps[steps.step == 0].seconds.ge(0).all() and steps[steps.step == 1].seconds.isna().all()  # not ended

    joined = read_csv(client, "participants")
    assert list(joined.columns) == list(dataset.PARTICIPANT_COLUMNS) and isinstance(joined.index, pd.RangeIndex)
    assert str(joined.number.dtype) == "int64" and sorted(joined.number) == [0, 1, 2, 3]
    assert joined.finished_at.isna().all() and pd.to_datetime(joined.joined_at, format="ISO8601").notna().all()
    assert dict(zip(joined.participant_id, joined.condition)) == {
        fixed[name]: condition for condition, names in fixed_trials.ROLES.items() for name in names}


def test_the_simulation_figures_of_a_fixed_dataset_are_the_hand_worked_ones(client, fixed):
    def simulation():
        response = client.get(f"/api/admin/studies/{fixed_trials.STUDY['id']}/summary.json", headers=ADMIN)
        assert response.status_code == 200
        return response.get_json()["simulation"]

    figures = simulation()
    assert simulation() == figures  # seeded: the same intervals on every call
    assert figures["control"] == "none" and set(figures["conditions"]) == {"paint", "none"}

    def estimate(got, value, low, high, participants):
        assert got == {"value": pytest.approx(value), "low": None if low is None else pytest.approx(low),
                       "high": None if high is None else pytest.approx(high), "participants": participants}
        if low is not None:
            assert got["low"] <= got["value"] <= got["high"]

    for (condition, phase, split), expected in fixed_trials.EXPECTED.items():
        got = figures["conditions"][condition][phase][split]
        assert got["trials"] == expected["trials"], (condition, phase, split)
        estimate(got["accuracy"], *expected["accuracy"])
        if "confidence" in expected:
            estimate(got["confidence"], *expected["confidence"])
        if "calibration" in expected:  # JSON keys: the levels as text
            assert {int(level): (c["accuracy"], c["trials"]) for level, c in got["calibration"].items()} == {
                level: (pytest.approx(a) if a is not None else None, n)
                for level, (a, n) in expected["calibration"].items()}
    estimate(figures["conditions"]["paint"]["utility"], *fixed_trials.UTILITY)
    assert "utility" not in figures["conditions"]["none"]  # the control
