"""docs/studies/painting-teaches.yaml, the example study of docs/study.md, on the real model and
SQLite: it loads with every check (its true classes against the model's labels, through the
admin API), each photo is right or wrong for the model as its comments say, and a participant of
every condition can be taken through it (trials, paint tasks, the explore step, questions) to the
end, leaving summary.json with the simulation figures per condition and phase and the utility of
each condition against `none`."""

import base64
import itertools
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.conftest import png_bytes
from tests.web.test_views import post
from web_client import create_app
from web_client.study.definition import load
from web_client.study.limits import WriteLimits

ROOT = Path(__file__).resolve().parents[2]
FILE = ROOT / "docs" / "studies" / "painting-teaches.yaml"
SAMPLES = ROOT / "web_client" / "static" / "samples"
TOKEN = "s3cret-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
CONDITIONS = ("none", "map", "paint", "paint+map")
# What the file's comments say EfficientNet-Lite0 does with each labelled photo: one right and one
# wrong in each phase, so that both sides of the model_correct split have trials.
MODEL_RIGHT = {"rocket": True, "chelsea": False, "coffee": True, "grace_hopper": False}


@pytest.fixture
def client(server, tmp_path):
    app = create_app({"TESTING": True, "INFERENCE_ADDR": server.address,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'study.db'}", "ADMIN_TOKEN": TOKEN})
    # A participant's pace: a second between writes, so the write limit (tested in test_study.py)
    # never refuses a whole session taken at a test's speed.
    seconds = itertools.count()
    app.extensions["maskscope.study"]["limits"] = WriteLimits(clock=lambda: next(seconds))
    return app.test_client()


def photo_bytes(name: str) -> bytes:
    return (SAMPLES / f"{name}.jpg").read_bytes()


def painted_middle(name: str) -> str:
    """A map painted over the middle of the photo, as the page sends one (base64 PNG)."""
    with Image.open(SAMPLES / f"{name}.jpg") as image:
        width, height = image.size
    mask = np.zeros((height, width, 4), np.uint8)
    mask[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = 255
    return base64.b64encode(png_bytes(mask)).decode()


def created(client, body: str):
    return client.post("/api/admin/studies", data=body, headers=ADMIN)


def test_the_example_study_loads_with_its_true_classes_checked_against_the_model(client):
    study = load(FILE)  # what `python -m web_client.study load` does (it cannot reach the model)
    assert [c.name for c in study.conditions] == list(CONDITIONS) and study.control == "none"
    trial_photos = {p for s in study.steps for p in s.photos}
    assert not trial_photos & set(study.photos)  # held out from the learning photos
    pre = {p for s in study.steps if s.phase == "pre" for p in s.photos}
    post_ = {p for s in study.steps if s.phase == "post" for p in s.photos}
    assert pre and post_ and not pre & post_  # the post-test is on other photos
    assert created(client, FILE.read_text()).status_code == 201
    # A true class the model does not have is refused, naming the photo: the check is real.
    wrong = yaml.safe_load(FILE.read_text())
    wrong["id"], wrong["labels"]["chelsea"] = "painting-teaches-wrong", "tabby cat"
    refused = created(client, yaml.safe_dump(wrong))
    assert refused.status_code == 400 and "chelsea ('tabby cat')" in refused.get_json()["error"]


def take_through(client, base: str, state: dict) -> None:
    """One participant, step by step as the page does, through their own condition's steps."""
    name = state["condition"]["name"]
    study = state["study"]
    assert client.post(f"{base}/events", json={"kind": "consent", "step": 0}).status_code == 201

    def event(kind, step, **payload):
        response = client.post(f"{base}/events", json={"kind": kind, "step": step, "payload": payload})
        assert response.status_code == 201, (name, kind, step, response.get_json())
        return response

    learning = yaml.safe_load(FILE.read_text())["photos"]
    for step in study["steps"]:
        index, kind = step["index"], step["kind"]
        event("step-start", index)
        if kind in ("forward", "counterfactual"):
            for photo in range(step["photos"]):
                shown = client.post(f"{base}/trials", json={"step": index, "photo": photo})
                assert shown.status_code == 200, shown.get_json()
                choices = shown.get_json()["choices"]
                answered = client.post(f"{base}/trials/answer", json={
                    "step": index, "photo": photo, "choice": choices[photo % len(choices)], "confidence": 3 + photo})
                assert answered.status_code == 201, answered.get_json()
        elif kind in ("before", "after"):
            for photo, photo_name in enumerate(learning):
                event("map", index, photo=photo, mask=painted_middle(photo_name))
        elif kind == "explore":
            assert (step["paint"], step["map"]) == {"none": (False, False), "map": (False, True),
                                                    "paint": (True, False), "paint+map": (True, True)}[name]
            if step["paint"]:
                event("stroke", index, photo=0, strokes=1)
                mask = base64.b64decode(painted_middle(learning[0]))
                answer = post(client, image=photo_bytes(learning[0]), mask=mask, path=f"{base}/classify", step=index)
            else:
                answer = post(client, image=photo_bytes(learning[0]), path=f"{base}/classify", step=index)
            assert answer.status_code == 200 and answer.get_json()["predictions"]
            if step["map"]:
                event("map-view", index, photo=0, label=answer.get_json()["predictions"][0]["label"])
            else:
                refused = client.post(f"{base}/events",
                                      json={"kind": "map-view", "step": index, "payload": {"photo": 0}})
                assert refused.status_code == 403 and refused.get_json()["code"] == "NotInCondition"
        elif kind == "question":
            value = "guessed from the shapes" if step["scale"] == "text" else 4
            event("answer", index, question=step["id"], value=value)
        event("step-end", index)
    event("finish", study["step_count"])
    assert client.get(base).get_json()["finished"]


def test_one_participant_of_each_condition_goes_through_it_to_the_summary(client):
    assert created(client, FILE.read_text()).status_code == 201
    people = {}
    for _ in range(8):  # one block of 8 holds every condition twice
        if set(people) == set(CONDITIONS):
            break
        joined = client.post("/api/study/painting-teaches/participants")
        assert joined.status_code == 201
        base = f"/api/study/painting-teaches/participants/{joined.get_json()['participant']}"
        state = client.get(base).get_json()
        people.setdefault(state["condition"]["name"], (base, state))
    assert set(people) == set(CONDITIONS)
    questions = {}
    for name, (base, state) in people.items():
        take_through(client, base, state)
        questions[name] = {s["id"] for s in state["study"]["steps"] if s["kind"] == "question"}
    assert questions == {"none": {"predictable", "strategy"}, "map": {"predictable", "map-helped", "strategy"},
                         "paint": {"predictable", "painting-helped", "strategy"},
                         "paint+map": {"predictable", "painting-helped", "map-helped", "strategy"}}

    rows = client.get("/api/admin/studies/painting-teaches/trials.json", headers=ADMIN).get_json()
    assert len(rows) == 4 * (2 + 2 + 2)  # each: 2 pre forward, 2 post forward, 2 post counterfactual
    assert {r["photo"]: r["model_correct"] for r in rows} == MODEL_RIGHT
    assert {(r["phase"], r["kind"]) for r in rows} == {("pre", "forward"), ("post", "forward"),
                                                       ("post", "counterfactual")}
    summary = client.get("/api/admin/studies/painting-teaches/summary.json", headers=ADMIN).get_json()
    simulation = summary["simulation"]["conditions"]
    assert set(simulation) == set(CONDITIONS)
    for name in CONDITIONS:
        for phase, trials in (("pre", 2), ("post", 4)):
            figures = simulation[name][phase]
            assert figures["all"]["trials"] == trials
            assert figures["model_correct"]["trials"] == figures["model_incorrect"]["trials"] == trials // 2
            accuracy = figures["all"]["accuracy"]
            assert 0 <= accuracy["value"] <= 1 and accuracy["participants"] == 1
            assert figures["all"]["confidence"]["value"] == 3.5  # confidences 3 and 4 (and 3, 4 again)
        mine = [r for r in rows if r["condition"] == name and r["phase"] == "post"]
        assert simulation[name]["post"]["all"]["accuracy"]["value"] == pytest.approx(
            sum(r["correct"] for r in mine) / len(mine))
    control = simulation["none"]["post"]["all"]["accuracy"]["value"]
    assert "utility" not in simulation["none"]
    for name in ("map", "paint", "paint+map"):
        utility = simulation[name]["utility"]
        assert utility["value"] == pytest.approx(simulation[name]["post"]["all"]["accuracy"]["value"] - control)
    # The paint tasks: everyone's before and after maps compared with the model's, per condition.
    assert {name: summary["conditions"][name]["paired"] for name in CONDITIONS} == dict.fromkeys(CONDITIONS, 1)
    assert summary["conditions"]["none"]["finished"] == 1
    assert summary["assignment"]["seed"] == 20261207 and summary["assignment"]["block"] == 8
