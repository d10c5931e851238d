"""Simulation trials through the API, on the real inference service, with SQLite and a real
PostgreSQL server: forward and counterfactual trials shown without the model's answer, answered
once, scored against the model's own answer, timed from the server's showing, and exported one
row per participant and trial (read back as a table) into summary.json's `simulation`."""

import base64
import csv
import io

import pytest
import yaml

from web_client import create_app
from web_client.study import trials

TOKEN = "s3cret-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
STUDY = {"id": "simulation", "title": "Can you predict the model?", "consent": "I agree.", "photos": ["coffee"],
         "labels": {"rocket": "missile", "chelsea": "cup"},  # chelsea's is wrong on purpose: the model is "incorrect"
         "steps": [{"kind": "forward", "phase": "pre", "photos": ["rocket", "chelsea", "china"]},
                   {"kind": "explore"},
                   {"kind": "counterfactual", "phase": "post", "photos": ["rocket", "chelsea"]}]}


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request, server, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres").url
    app = create_app({"TESTING": True, "INFERENCE_ADDR": server.address, "DATABASE_URL": url, "ADMIN_TOKEN": TOKEN})
    client = app.test_client()
    assert client.post("/api/admin/studies", data=yaml.safe_dump(STUDY), headers=ADMIN).status_code == 201
    yield client
    client.delete(f"/api/admin/studies/{STUDY['id']}", headers=ADMIN)


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
    rows = list(csv.DictReader(io.StringIO(text)))  # pandas is not in the venv: the csv module reads it
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
