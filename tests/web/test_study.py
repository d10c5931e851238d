"""Study mode's API on the real inference service, with SQLite and a real PostgreSQL server: a
participant's session logged server-side, the admin token, exports, and refusals that store nothing."""

import csv
import io

import numpy as np
import pytest
import yaml

from tests.web.test_views import cup_mask, post
from web_client import create_app
from web_client.study.assignment import condition_for

TOKEN = "s3cret-admin-token"
STUDY = {"id": "does-painting-teach", "title": "What does the classifier look at?", "consent": "I agree.",
         "photos": ["coffee"], "steps": [{"kind": "before", "task": "paint"}, {"kind": "explore"},
                                         {"kind": "after", "task": "paint"},
                                         {"kind": "question", "id": "clarity", "text": "It made sense"}]}
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def study_client(request, server, tmp_path, study: dict):
    """A test client of the web app with `study` loaded, on SQLite or the real PostgreSQL
    (request.param), the study deleted after the test."""
    url = f"sqlite:///{tmp_path / 'study.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres").url
    app = create_app({"TESTING": True, "INFERENCE_ADDR": server.address, "DATABASE_URL": url, "ADMIN_TOKEN": TOKEN})
    client = app.test_client()
    assert client.post("/api/admin/studies", data=yaml.safe_dump(study), headers=ADMIN).status_code == 201
    yield client
    client.delete(f"/api/admin/studies/{study['id']}", headers=ADMIN)


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request, server, tmp_path):
    yield from study_client(request, server, tmp_path, STUDY)


def participant(client):
    response = client.post(f"/api/study/{STUDY['id']}/participants")
    assert response.status_code == 201
    return f"/api/study/{STUDY['id']}/participants/{response.get_json()['participant']}"


def event(client, base, kind, step=0, **payload):
    return client.post(f"{base}/events", json={"kind": kind, "step": step, "payload": payload})


def test_a_participant_session_is_logged_and_exported(client, photos, photo_png):
    base = participant(client)
    assert client.get(base).get_json()["step"] == 0
    assert event(client, base, "consent").status_code == 201
    assert event(client, base, "step-start", 0).status_code == 201
    answer = post(client, image=photo_png["coffee"], mask=cup_mask(photos["coffee"].shape), path=f"{base}/classify",
                  step=0)
    assert answer.status_code == 200 and answer.get_json()["predictions"]
    assert event(client, base, "step-end", 0).status_code == 201
    state = client.get(base).get_json()
    assert state["step"] == 1 and not state["finished"]  # a reload resumes on step 1
    for step in (1, 2, 3):
        event(client, base, "step-start", step)
        if step == 3:
            event(client, base, "answer", 3, question="clarity", value=4)
        event(client, base, "step-end", step)
    assert event(client, base, "finish", 4).status_code == 201
    assert event(client, base, "answer", 3, value=5).status_code == 409  # finished: no redo
    assert post(client, image=photo_png["coffee"], path=f"{base}/classify", step=0).status_code == 409

    events = client.get(f"/api/admin/studies/{STUDY['id']}/events.json", headers=ADMIN).get_json()
    assert [e["kind"] for e in events] == ["consent", "step-start", "classify", "step-end", "step-start", "step-end",
                                           "step-start", "step-end", "step-start", "answer", "step-end", "finish"]
    logged = events[2]["payload"]
    assert logged["predictions"] == answer.get_json()["predictions"][:5] and logged["mask"] and logged["timings"]
    steps = list(csv.DictReader(io.StringIO(
        client.get(f"/api/admin/studies/{STUDY['id']}/steps.csv", headers=ADMIN).get_data(as_text=True))))
    assert [(r["step"], r["classifications"], r["answer"]) for r in steps] == [
        ("0", "1", ""), ("1", "0", ""), ("2", "0", ""), ("3", "0", "4")]
    assert all(float(r["seconds"]) >= 0 for r in steps)
    assert all(r["map_views"] == "0" and r["first_map_view_s"] == "" for r in steps)  # every column of the rows


def test_the_admin_api_needs_its_token(client, server, tmp_path):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = client.get("/api/admin/studies", headers=headers)
        assert response.status_code == 401 and "admin token" in response.get_json()["error"]
    assert client.get("/api/admin/studies", headers=ADMIN).get_json() == [{"study": STUDY["id"], "participants": 0}]
    off = create_app({"TESTING": True, "INFERENCE_ADDR": server.address,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'off.db'}", "ADMIN_TOKEN": ""}).test_client()
    assert off.get("/api/admin/studies", headers=ADMIN).status_code == 503


def test_bad_input_is_refused_and_nothing_is_stored(client):
    assert client.post("/api/study/nope/participants").status_code == 404
    base = participant(client)
    assert event(client, base, "classify").status_code == 400  # consent first
    event(client, base, "consent")
    cases = [(client.post(f"{base}/events", data="not json", content_type="application/json"), 400),
             (client.post(f"{base}/events", json={"kind": "answer", "step": "two"}), 400),
             (event(client, base, "classify", 0, top="espresso"), 400),  # only the service logs classifications
             (event(client, base, "answer", 0, value="x" * 300_000), 413),
             (event(client, base, "nonsense"), 400),
             (event(client, base, "answer", 9), 400),
             (event(client, base, "step-end", 2), 400),  # no skipping ahead
             (event(client, base, "map", 0, photo="coffee"), 400),  # photos by number
             (event(client, base, "map", 0, photo=3), 400),
             (event(client, base, "map", 0, photo=0, mask="bm90IGEgcG5n"), 400),  # not a PNG
             (client.post(f"/api/study/{STUDY['id']}/participants/someone-else/events",
                          json={"kind": "consent", "step": 0}), 404)]
    for response, status in cases:
        assert response.status_code == status, response.get_json()
        assert response.get_json()["error"]
    events = client.get(f"/api/admin/studies/{STUDY['id']}/events.json", headers=ADMIN).get_json()
    assert [e["kind"] for e in events] == ["consent"]
    bad_study = client.post("/api/admin/studies", data="id: [unclosed", headers=ADMIN)
    assert bad_study.status_code == 400 and "neither JSON nor YAML" in bad_study.get_json()["error"]
    missing = client.post("/api/admin/studies", json={**STUDY, "id": "y", "photos": ["no-such-photo"]}, headers=ADMIN)
    assert missing.status_code == 400 and "neither a sample nor a readable file" in missing.get_json()["error"]
    wrong_step = client.post("/api/admin/studies", json={**STUDY, "id": "x", "steps": [{"kind": "dance"}]}, headers=ADMIN)
    assert wrong_step.status_code == 400 and "kind 'dance'" in wrong_step.get_json()["error"]


def test_writes_are_rate_limited(client):
    base = participant(client)
    event(client, base, "consent")
    statuses = [event(client, base, "stroke", 0, photo=0, strokes=i).status_code for i in range(60)]
    assert statuses.count(429) > 0 and statuses[:25] == [201] * 25


def test_deleting_a_study_removes_its_data(client):
    base = participant(client)
    event(client, base, "consent")
    deleted = client.delete(f"/api/admin/studies/{STUDY['id']}", headers=ADMIN)
    assert deleted.status_code == 200 and deleted.get_json()["deleted_events"] == 1
    assert client.get(base).status_code == 404
    assert client.get(f"/api/admin/studies/{STUDY['id']}/events.json", headers=ADMIN).status_code == 404


def test_the_summary_compares_before_and_after_with_the_model(client, photos):
    from tests.conftest import png_bytes
    import base64

    def painted(rows, cols):
        mask = np.zeros((*photos["coffee"].shape[:2], 4), np.uint8)
        mask[rows, cols] = 255
        return base64.b64encode(png_bytes(mask)).decode()

    base = participant(client)
    event(client, base, "consent")
    assert event(client, base, "map", 0, photo=0, mask=painted(slice(0, 60), slice(0, 600))).status_code == 201  # the sky
    event(client, base, "step-end", 0)
    event(client, base, "step-end", 1)
    assert event(client, base, "map", 2, photo=0, mask=painted(slice(40, 320), slice(120, 470))).status_code == 201  # the cup
    summary = client.get(f"/api/admin/studies/{STUDY['id']}/summary.json", headers=ADMIN).get_json()
    assert summary["model"]["coffee"]["label"] == "espresso"
    (row,) = summary["participants"]
    # The model needs the cup: painting the sky disagrees with its map, painting the cup agrees.
    assert row["before_agreement"] < 0.1 < 0.3 < row["after_agreement"]
    assert summary["overall"]["moved_toward_the_model"] == 1 and summary["overall"]["participants"] == 1
    assert "before_deletion_area" not in row  # only when asked for: a dozen classifications a map
    from web_client.faithfulness import DEFAULT_STEPS
    from web_client.metrics import get_metrics
    with client.application.app_context():
        registry = get_metrics().registry

    def classified():
        return registry.get_sample_value("maskscope_web_inference_seconds_count", {"method": "Classify", "code": "OK"}) or 0
    calls = classified()
    faithful = client.get(f"/api/admin/studies/{STUDY['id']}/summary.json?faithfulness=1", headers=ADMIN).get_json()
    # The photo sent once; three maps (before, after, the model's) and one random order, each a curve.
    assert classified() - calls == 1 + (3 + 1) * (DEFAULT_STEPS + 1)
    (row,) = faithful["participants"]
    # Hiding the cup first loses the espresso sooner than hiding the sky first.
    assert row["after_deletion_area"] < row["before_deletion_area"]
    assert 0 <= faithful["model"]["coffee"]["deletion_area"] <= 1 and faithful["fill"] == "gray"


def test_a_participant_who_withdraws_is_deleted_alone(client):
    stays, leaves = participant(client), participant(client)
    for base in (stays, leaves):
        event(client, base, "consent")
    leaver = leaves.rsplit("/", 1)[1]
    gone = client.delete(f"/api/admin/studies/{STUDY['id']}/participants/{leaver}", headers=ADMIN)
    assert gone.status_code == 200 and gone.get_json()["deleted_events"] == 1
    assert client.get(leaves).status_code == 404 and client.get(stays).status_code == 200
    events = client.get(f"/api/admin/studies/{STUDY['id']}/events.json", headers=ADMIN).get_json()
    assert {e["participant_id"] for e in events} == {stays.rsplit("/", 1)[1]}
    assert client.delete(f"/api/admin/studies/{STUDY['id']}/participants/{leaver}", headers=ADMIN).status_code == 404


def test_the_pages_and_their_photos(client, tmp_path, photo_png):
    assert client.get(f"/study/{STUDY['id']}").status_code == 200
    assert client.get("/study/nope").status_code == 404
    sample = client.get(f"/study/{STUDY['id']}/photos/0")
    assert sample.status_code == 200 and sample.mimetype == "image/jpeg"
    assert client.get(f"/study/{STUDY['id']}/photos/1").status_code == 404
    own = tmp_path / "lesion.png"
    own.write_bytes(photo_png["rocket"])
    client.post("/api/admin/studies", json={**STUDY, "id": "own-photos", "photos": [str(own)]}, headers=ADMIN)
    served = client.get("/study/own-photos/photos/0")
    assert served.status_code == 200 and served.mimetype == "image/png" and served.data == photo_png["rocket"]
    assert client.get(f"/admin/studies/{STUDY['id']}").status_code == 200
    client.delete("/api/admin/studies/own-photos", headers=ADMIN)


def test_joining_is_rate_limited_by_address(client):
    statuses = [client.post(f"/api/study/{STUDY['id']}/participants").status_code for _ in range(45)]
    assert statuses[:25] == [201] * 25 and 429 in statuses
    # Without trusted proxies a claimed address changes nothing: the connection's own counts.
    claimed = client.post(f"/api/study/{STUDY['id']}/participants", headers={"X-Forwarded-For": "198.51.100.7"})
    assert claimed.status_code == 429


def test_behind_an_ingress_each_client_address_has_its_own_join_limit(server, tmp_path):
    app = create_app({"TESTING": True, "INFERENCE_ADDR": server.address, "ADMIN_TOKEN": TOKEN,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'study.db'}", "TRUSTED_PROXIES": 1})
    client = app.test_client()
    assert client.post("/api/admin/studies", data=yaml.safe_dump(STUDY), headers=ADMIN).status_code == 201

    def join(address):  # every request arrives from the Ingress controller's one address
        return client.post(f"/api/study/{STUDY['id']}/participants", headers={"X-Forwarded-For": address},
                           environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code
    first = [join("203.0.113.1") for _ in range(45)]
    assert 429 in first
    assert join("203.0.113.2") == 201  # another student in the class
    # An IPv6 home or host has a whole /64: its addresses share one limit, another /64 has its own.
    same_64 = [join(f"2001:db8:1:2::{k:x}") for k in range(1, 46)]
    assert 429 in same_64 and same_64.index(429) <= 31
    assert join("2001:db8:1:3::1") == 201


def test_exports_are_safe_to_open_in_a_spreadsheet(client):
    base = participant(client)
    event(client, base, "consent")
    event(client, base, "step-start", 0)
    event(client, base, "step-end", 0)
    event(client, base, "step-start", 1)
    event(client, base, "step-end", 1)
    event(client, base, "step-start", 2)
    event(client, base, "step-end", 2)
    event(client, base, "answer", 3, question="clarity", value="=HYPERLINK(\"http://x\")")
    text = client.get(f"/api/admin/studies/{STUDY['id']}/steps.csv", headers=ADMIN).get_data(as_text=True)
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


def test_the_admin_token_guards_every_admin_route(client):
    for method, path in (("get", "events.json"), ("get", "steps.csv"), ("get", "summary.json"), ("delete", "")):
        response = getattr(client, method)(f"/api/admin/studies/{STUDY['id']}/{path}".rstrip("/"))
        assert response.status_code == 401, (method, path)
    assert client.get("/api/admin/studies", headers=ADMIN).get_json()[0]["study"] == STUDY["id"]  # nothing deleted


def test_a_photo_is_answered_once_and_the_participant_learns_where_to_resume(client):
    base = participant(client)
    event(client, base, "consent")
    assert client.get(base).get_json()["photo"] == 0
    assert event(client, base, "map", 0, photo=0, mask="").status_code == 201
    again = event(client, base, "map", 0, photo=0, mask="")
    assert again.status_code == 409 and again.get_json()["code"] == "AlreadyAnswered"
    assert client.get(base).get_json()["photo"] == 1  # the study has one photo: the step is all answered
    assert event(client, base, "step-end", 0).status_code == 201


def test_trusted_proxies_is_a_count(server, tmp_path):
    with pytest.raises(ValueError, match="a count of proxies, 0 or more"):
        create_app({"TESTING": True, "INFERENCE_ADDR": server.address, "TRUSTED_PROXIES": -1,
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'study.db'}"})


def test_a_study_classification_the_service_refuses_is_an_answer_not_a_crash(client):
    base = participant(client)
    event(client, base, "consent")
    event(client, base, "step-start", 0)
    bad = post(client, path=f"{base}/classify", step=0, image_id="ab" * 32, top_k="many")
    assert bad.status_code == 400 and bad.get_json()["code"] == "INVALID_ARGUMENT"
    forgotten = post(client, path=f"{base}/classify", step=0, image_id="ab" * 32)  # an id the service never gave
    assert forgotten.status_code == 404 and forgotten.get_json()["code"] == "NOT_FOUND"


def test_a_participant_id_of_another_shape_is_no_one_and_exports_stream(client):
    """A made-up id of 4 KB would key a write limit of its own (100,000 of them: 400 MB)."""
    made_up = client.post(f"/api/study/{STUDY['id']}/participants/{'x' * 4000}/events",
                          json={"kind": "consent", "step": 0, "payload": {}})
    assert made_up.status_code == 404 and made_up.get_json()["code"] == "UnknownParticipant"
    assert client.get(f"/api/study/{STUDY['id']}/participants/has%20spaces-0123456789").status_code == 404
    base = participant(client)
    assert event(client, base, "consent").status_code == 201
    export = client.get(f"/api/admin/studies/{STUDY['id']}/events.csv", headers=ADMIN)
    assert export.is_streamed and "consent" in export.get_data(as_text=True)


CONDITIONS = {"id": "four-conditions", "title": "Which help?", "consent": "I agree.", "photos": ["coffee"],
              "conditions": [{"name": "paint"}, {"name": "paint+map", "map": True},
                             {"name": "map", "paint": False, "map": True}, {"name": "none", "paint": False}],
              "assignment": {"seed": 20261207},
              "steps": [{"kind": "before", "task": "paint"}, {"kind": "explore", "minutes": 2},
                        {"kind": "question", "id": "painting", "text": "Did painting help?",
                         "only": ["paint", "paint+map"]}]}


def test_each_condition_sees_and_may_record_only_what_it_allows(client, photos, photo_png):
    assert client.post("/api/admin/studies", json=CONDITIONS, headers=ADMIN).status_code == 201
    people = {}
    for _ in range(4):  # one block: one of each
        joined = client.post("/api/study/four-conditions/participants").get_json()["participant"]
        base = f"/api/study/four-conditions/participants/{joined}"
        state = client.get(base).get_json()
        people[state["condition"]["name"]] = (base, state)
    assert set(people) == {"paint", "paint+map", "map", "none"}
    for name, (base, state) in people.items():
        explore = next(s for s in state["study"]["steps"] if s["kind"] == "explore")
        assert (explore["paint"], explore["map"]) == {"paint": (True, False), "paint+map": (True, True),
                                                      "map": (False, True), "none": (False, False)}[name]
        # Their own steps, by their number in the study; nothing of the other conditions or the seed.
        assert [s["index"] for s in state["study"]["steps"]] == ([0, 1, 2] if "paint" in name else [0, 1])
        assert state["study"]["step_count"] == 3
        assert not {"conditions", "assignment"} & set(state["study"]) and "20261207" not in str(state)
        event(client, base, "consent")
        event(client, base, "step-start", 0)
        assert event(client, base, "step-end", 0).get_json()["step"] == 1
        event(client, base, "step-start", 1)

    def refused(response):
        assert response.status_code == 403 and response.get_json()["code"] == "NotInCondition", response.get_json()
        return response.get_json()["error"]

    assert "does not show the model's map" in refused(event(client, people["paint"][0], "map-view", 1, photo=0))
    assert "does not show" in refused(event(client, people["none"][0], "map-view", 1, photo=0))
    assert "does not paint" in refused(event(client, people["map"][0], "stroke", 1, photo=0, strokes=1))
    masked = post(client, image=photo_png["coffee"], mask=cup_mask(photos["coffee"].shape),
                  path=f"{people['none'][0]}/classify", step=1)
    assert "does not paint" in refused(masked)
    plain = post(client, image=photo_png["coffee"], path=f"{people['none'][0]}/classify", step=1)
    assert plain.status_code == 200 and plain.get_json()["predictions"][0]["label"] == "espresso"
    assert event(client, people["map"][0], "map-view", 1, photo=0, label="espresso").status_code == 201
    assert event(client, people["paint+map"][0], "map-view", 1, photo=0, label="espresso").status_code == 201
    assert event(client, people["paint"][0], "stroke", 1, photo=0, strokes=1).status_code == 201
    # Past the explore step: the question for the painting conditions, the end for the others.
    assert event(client, people["none"][0], "step-end", 1).get_json()["step"] == 3
    assert event(client, people["none"][0], "step-start", 2).status_code == 400  # not their step
    assert event(client, people["none"][0], "finish", 3).status_code == 201
    assert event(client, people["paint"][0], "step-end", 1).get_json()["step"] == 2

    events = list(csv.DictReader(io.StringIO(
        client.get("/api/admin/studies/four-conditions/events.csv", headers=ADMIN).get_data(as_text=True))))
    assert list(events[0])[-1] == "condition" and list(events[0])[:6] == ["id", "participant_id", "step", "kind",
                                                                           "at", "payload"]
    assert {(e["kind"], e["condition"]) for e in events if e["kind"] in ("map-view", "stroke", "classify")} == {
        ("map-view", "map"), ("map-view", "paint+map"), ("stroke", "paint"), ("classify", "none")}
    steps = client.get("/api/admin/studies/four-conditions/steps.json", headers=ADMIN).get_json()
    assert {(s["condition"], s["step"], s["map_views"]) for s in steps if s["step"] == 1} == {
        ("paint", 1, 0), ("paint+map", 1, 1), ("map", 1, 1), ("none", 1, 0)}
    joined = list(csv.DictReader(io.StringIO(
        client.get("/api/admin/studies/four-conditions/participants.csv", headers=ADMIN).get_data(as_text=True))))
    names = [c["name"] for c in CONDITIONS["conditions"]]
    assert sorted((p["number"], p["condition"]) for p in joined) == [  # recomputable from the file's seed
        (str(i), condition_for(i, names, 4, 20261207)) for i in range(4)]
    summary = client.get("/api/admin/studies/four-conditions/summary.json", headers=ADMIN).get_json()
    assert summary["assignment"] == {"conditions": ["paint", "paint+map", "map", "none"], "block": 4,
                                     "seed": 20261207}
    assert set(summary["conditions"]) == {"paint", "paint+map", "map", "none"}
    assert summary["conditions"]["none"]["finished"] == 1 and summary["overall"]["participants"] == 4
    client.delete("/api/admin/studies/four-conditions", headers=ADMIN)


def test_a_study_without_conditions_reads_as_before_with_one_condition(client):
    base = participant(client)
    state = client.get(base).get_json()
    assert state["condition"] == {"name": "all", "paint": True, "map": None}
    assert [s["index"] for s in state["study"]["steps"]] == [0, 1, 2, 3]
    summary = client.get(f"/api/admin/studies/{STUDY['id']}/summary.json", headers=ADMIN).get_json()
    assert list(summary["conditions"]) == ["all"] and summary["assignment"]["block"] == 1
