"""web_client/bodies.py: a large body is read before the view, taking the in-flight budget as its
bytes arrive (four times their size), given back when its request is done; JSON counted first."""

import pytest

from web_client import create_app
from web_client.limits import Limits


@pytest.fixture
def app(tmp_path):
    return create_app({"TESTING": True, "LIMITS": Limits(inflight_upload_mb=1),
                       "DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"})


def test_large_bodies_past_the_in_flight_budget_are_asked_to_try_again(app):
    client = app.test_client()
    budget = app.extensions["maskscope_limits"][1]
    assert budget.take(1000)  # another upload is being received: no room for this one's first MiB
    response = client.post("/api/classify", data={"image_id": "x", "pad": "x" * 200_000})
    assert response.status_code == 503 and "busy" in response.get_json()["error"]
    budget.give_back(1000)
    small = client.post("/api/faithfulness", json={"maps": {}})  # small bodies never wait for the budget
    assert small.status_code == 400 and budget.taken == 0
    assert client.post("/api/classify", data={"image_id": "", "pad": "x" * 200_000}).status_code == 400
    assert budget.taken == 0, "every share is given back when its request ends"


def test_a_body_longer_than_its_route_takes_is_refused_before_it_is_read(app):
    client = app.test_client()
    response = client.post("/api/faithfulness", data=b"[" + b"1," * 600_000 + b"1]",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "the limit here is 1 MB" in response.get_json()["error"]
    assert app.extensions["maskscope_limits"][1].taken == 0


def test_json_routes_take_json_only_and_count_its_values_first(app):
    client = app.test_client()
    form = client.post("/api/faithfulness", data="{}", headers={"Content-Type": "text/plain"})
    assert form.status_code == 415 and "as JSON" in form.get_json()["error"]
    many = client.post("/api/faithfulness", data=b"[" + b"0," * 30_000 + b"0]",
                       headers={"Content-Type": "application/json"})
    assert many.status_code == 413 and "more than 20,000 values" in many.get_json()["error"]
    broken = client.post("/api/faithfulness", data=b"{nope", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.get_json()["error"]
