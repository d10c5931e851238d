"""/api/explain (streamed progress, then the map) and /api/report, against the real inference service."""

import io
import json

import numpy as np

from maskscope import session as sessions
from tests.conftest import png_bytes
from tests.web.test_views import cup_mask, post


def explain(client, image=None, mask=None, **fields):
    return post(client, image, mask, path="/api/explain", **fields)


def test_explain_streams_progress_then_the_map(client, photo_png):
    response = explain(client, image=photo_png["coffee"], patch_size=56, stride=56)
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [line["total"] for line in lines] == [16] * len(lines) and lines[-1]["done"] == 16
    m = lines[-1]["map"]
    assert m["label"] == "espresso" and m["rows"] * m["cols"] == len(m["drop"]) == 16
    assert 0 < m["crop"]["left"] < m["crop"]["right"] <= 600 and m["image_id"]
    assert "map" not in lines[0] or len(lines) == 1


def test_explain_a_pinned_class_of_a_masked_photo_by_image_id(client, photo_png, photos):
    first = client.post("/api/classify", data={"image": (io.BytesIO(photo_png["coffee"]), "p.png")},
                        content_type="multipart/form-data").get_json()
    response = explain(client, image_id=first["image_id"], mask=cup_mask(photos["coffee"].shape), class_index=504,
                       patch_size=112, stride=112, fill="inpaint")
    m = json.loads(response.get_data(as_text=True).splitlines()[-1])["map"]
    assert m["class_index"] == 504 and m["label"] == "coffee mug" and m["occluded_copies"] == 4


def test_bad_explain_requests_get_400_with_the_reason(client, photo_png):
    for fields, message in [({"patch_size": 999}, "patch_size must be between 1 and"),
                            ({"class_index": "x"}, "class_index must be an integer"),
                            ({"fill": "glitter"}, "unknown fill 'glitter'")]:
        response = explain(client, image=photo_png["coffee"], **fields)
        assert response.status_code == 400, fields
        assert message in response.get_json()["error"]
    huge = explain(client, image=photo_png["coffee"], stride=99999999999)
    assert huge.status_code == 400 and "stride must be between" in huge.get_json()["error"]
    assert explain(client).status_code == 400
    assert explain(client, image_id="0" * 64).status_code == 404


def test_report_turns_a_session_into_a_downloadable_page(client, photo_png):
    p = [{"class_index": 967, "label": "espresso", "probability": 0.9}]
    session = sessions.Session(image=photo_png["coffee"], image_name="coffee.png", model="efficientnet-lite0",
                               fill="gray", keep_painted=False, steps=[sessions.Step("Unpainted photo", b"", p)])
    response = client.post("/api/report", data=session.to_json(), content_type="application/json")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert 'filename="maskscope-coffee.html"' in response.headers["Content-Disposition"]
    assert "espresso <b>90.0%</b>" in response.get_data(as_text=True)
    session.image_name = "咖啡 café.png"  # headers are Latin-1: the download name keeps to ASCII
    named = client.post("/api/report", data=session.to_json(), content_type="application/json")
    assert named.status_code == 200 and 'filename="maskscope----caf-.html"' in named.headers["Content-Disposition"]
    # A photo near the upload limit (2 MB here) still makes a report, though base64 makes it larger.
    noise = np.random.default_rng(0).integers(0, 256, (800, 800, 3), np.uint8)
    session.image = png_bytes(noise)
    assert 1.5 * 2**20 < len(session.image) < 2 * 2**20 < len(session.to_json())
    assert client.post("/api/report", data=session.to_json(), content_type="application/json").status_code == 200
    bad = client.post("/api/report", data='{"format": "maskscope-session", "version": 1}',
                      content_type="application/json")
    assert bad.status_code == 400 and "no image" in bad.get_json()["error"]
