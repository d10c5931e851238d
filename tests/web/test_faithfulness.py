"""Deletion curves through the web app and the real service: the model's own map finds what the
model needs far sooner than the same map backwards, and bad requests get a 400 that says what is
wrong."""

import numpy as np
import pytest

from tests.web.test_views import post


def explain_map(client, image_id):
    import json
    lines = client.post("/api/explain", data={"image_id": image_id}, content_type="multipart/form-data").get_data(
        as_text=True).splitlines()
    return json.loads(lines[-1])["map"]


def test_the_models_map_finds_what_it_needs_sooner_than_the_map_backwards(client, photo_png):
    image_id = post(client, image=photo_png["coffee"]).get_json()["image_id"]
    m = explain_map(client, image_id)
    flipped = {**m, "drop": list(-np.asarray(m["drop"]))}  # the least important first: worse than chance
    response = client.post("/api/faithfulness", json={"image_id": image_id, "class_index": m["class_index"],
                                                      "steps": 8, "maps": {"model": m, "backwards": flipped}})
    assert response.status_code == 200, response.get_json()
    curves = response.get_json()["curves"]
    assert set(curves) == {"model", "backwards", "random"}
    assert all(len(c["probabilities"]) == 9 for c in curves.values())
    assert curves["model"]["probabilities"][0] == pytest.approx(m["base_probability"], abs=1e-4)
    # Least important first keeps the espresso far longer. (A random order is a hard baseline with
    # a gray fill: scattered gray squares are masks the model reads as such; docs/study.md.)
    assert curves["model"]["auc"] < 0.5 * curves["backwards"]["auc"]
    assert curves["model"]["probabilities"][2] < 0.1 < curves["backwards"]["probabilities"][2]


@pytest.mark.parametrize("body, message", [
    ({"class_index": 1, "maps": {"m": {}}}, "image"),
    ({"image_id": "x", "class_index": 1, "maps": {str(i): {} for i in range(5)}}, "1 to 4 maps"),
    ({"image_id": "x", "class_index": 1, "steps": [3], "maps": {"m": {}}}, "steps"),
    ({"image_id": "x", "maps": {}}, "class_index"),
    ({"image_id": "x", "class_index": 1}, "maps is an object"),
    ({"image_id": "x", "class_index": 1, "steps": 0, "maps": {"m": {}}}, "steps must be between 1 and 50"),
    # Refused before the service is asked anything (the unknown image_id would be a 404).
    ({"image_id": "x", "class_index": 1, "steps": 50, "maps": {"a": {}, "b": {}, "c": {}}}, "204 classifications"),
])
def test_bad_requests_say_what_is_wrong(client, body, message):
    response = client.post("/api/faithfulness", json=body)
    assert response.status_code == 400 and message in response.get_json()["error"]


def test_a_malformed_map_is_refused(client, photo_png):
    image_id = post(client, image=photo_png["coffee"]).get_json()["image_id"]
    bad = {"rows": 2, "cols": 2, "drop": [1, 2, 3], "crop": {"left": 0, "top": 0, "right": 10, "bottom": 10}}
    response = client.post("/api/faithfulness", json={"image_id": image_id, "class_index": 1, "maps": {"m": bad}})
    assert response.status_code == 400 and "rows x cols" in response.get_json()["error"]
    response = client.post("/api/faithfulness", json={"image_id": image_id, "class_index": 1, "steps": 500,
                                                      "maps": {"m": {**bad, "drop": [1, 2, 3, 4]}}})
    assert response.status_code == 400 and "steps must be between 1 and 50" in response.get_json()["error"]


def test_insertion_and_both_orders_agree_with_what_the_map_says(client, photo_png):
    """The model's map, most important first: deletion falls soon and insertion rises soon; least
    important first, the other way round (ROAD's MoRF and LeRF)."""
    image_id = post(client, image=photo_png["coffee"]).get_json()["image_id"]
    m = explain_map(client, image_id)
    response = client.post("/api/faithfulness", json={
        "image_id": image_id, "class_index": m["class_index"], "steps": 4, "maps": {"model": m},
        "kinds": ["deletion", "insertion"], "orders": ["most", "least"]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    model = body["all"]["model"]
    assert set(model) == {"deletion-most", "deletion-least", "insertion-most", "insertion-least"}
    assert set(body["all"]) == {"model", "random"} and body["curves"]["model"] == model["deletion-most"]
    assert model["deletion-most"]["auc"] < model["deletion-least"]["auc"]
    assert model["insertion-most"]["auc"] > model["insertion-least"]["auc"]
    # Insertion starts from everything hidden and ends with the whole crop shown (the pixels just
    # outside it, which the resize reads at its edge, stay hidden); deletion the other way.
    assert model["insertion-most"]["probabilities"][-1] == pytest.approx(m["base_probability"], abs=0.01)
    assert model["insertion-most"]["probabilities"][0] == pytest.approx(model["deletion-most"]["probabilities"][-1],
                                                                       abs=0.01)


@pytest.mark.parametrize("fields, message", [
    ({"kinds": ["sideways"]}, "kinds is a list of one or more of deletion, insertion"),
    ({"kinds": []}, "kinds is a list"),
    ({"orders": ["most", "most"]}, "orders is a list of one or more of most, least, each once"),
    ({"kinds": ["deletion", "insertion"], "orders": ["most", "least"], "steps": 20}, "4 curve(s) each"),
])
def test_bad_kinds_and_orders_say_what_is_wrong(client, fields, message):
    m = {"rows": 2, "cols": 2, "drop": [1, 2, 3, 4], "crop": {"left": 0, "top": 0, "right": 10, "bottom": 10}}
    response = client.post("/api/faithfulness", json={"image_id": "x", "class_index": 1, "maps": {"m": m}, **fields})
    assert response.status_code == 400 and message in response.get_json()["error"]
