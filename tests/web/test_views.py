"""web_client/views.py through the Flask test client, against the real inference service: every
route, with good and bad payloads."""

import io

import numpy as np
import pytest

from tests.conftest import png_bytes
from web_client import create_app


def post(client, image=None, mask=None, path="/api/classify", **fields):
    """A multipart POST as the page sends it: the photo and mask as files, the rest as form fields."""
    data = {key: str(value) for key, value in fields.items()}
    if image is not None:
        data["image"] = (io.BytesIO(image), "photo.png")
    if mask is not None:
        data["mask"] = (io.BytesIO(mask), "mask.png")
    return client.post(path, data=data, content_type="multipart/form-data")


def cup_mask(shape):
    mask = np.zeros((*shape[:2], 4), np.uint8)
    mask[40:320, 120:470, 3] = 255
    return png_bytes(mask)


def test_page_loads_with_its_scripts_and_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and b'type="module"' in page.data and b"Classify" in page.data
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/static/js/main.js").status_code == 200


def test_classify_an_upload_then_a_mask_by_image_id(client, photos, photo_png):
    first = post(client, image=photo_png["coffee"], sequence=3)
    assert first.status_code == 200
    body = first.get_json()
    assert body["predictions"][0]["label"] in {"espresso", "cup", "coffee mug"}
    assert body["sequence"] == 3 and body["image_width"] == 600 and len(body["image_id"]) == 64
    top = body["predictions"][0]
    masked = post(client, image_id=body["image_id"], mask=cup_mask(photos["coffee"].shape),
                  track=str(top["class_index"]), fill="blur").get_json()
    assert masked["tracked"][0]["class_index"] == top["class_index"]
    assert masked["tracked"][0]["probability"] < top["probability"] / 2


def test_models_lists_the_default_and_labels_on_request(client):
    body = client.get("/api/models").get_json()
    assert body["default_model"] == "efficientnet-lite0"
    assert "labels" not in body["models"][0]
    with_labels = client.get("/api/models?labels=1").get_json()
    assert len(with_labels["models"][0]["labels"]) == 1000


def test_health_reports_the_inference_service(client):
    response = client.get("/api/health")
    assert response.status_code == 200 and response.get_json() == {"inference": "SERVING"}


BAD = [
    ("not an image", dict(image=b"%PDF-1.4 not a photo"), 400, "not an image"),
    ("no image at all", dict(), 400, "no image"),
    ("both image and id", dict(image=b"\x89PNG\r\n\x1a\n....", image_id="abc"), 400, "either an image or an image_id"),
    ("image that only looks like one", dict(image=b"\x89PNG\r\n\x1a\nbroken"), 400, "could not be read"),
    ("unknown image id", dict(image_id="f" * 64), 404, "send the image"),
    ("unknown model", dict(model="alexnet"), 404, "unknown model 'alexnet'"),
    ("bad fill", dict(fill="sparkles"), 400, "unknown fill 'sparkles'"),
    ("bad top_k", dict(top_k="many"), 400, "top_k must be an integer"),
    ("top_k out of range", dict(top_k=5000), 400, "top_k must be between 1 and 1000"),
    ("bad track", dict(track="1,x"), 400, "track must be class indices"),
    ("track out of range", dict(track="1000"), 400, "outside 0..999"),
    ("mask not a png", dict(mask=b"GIF89a...."), 400, "mask must be a PNG"),
    ("mask of the wrong size", dict(mask=png_bytes(np.zeros((3, 3), np.uint8))), 400, "mask is 3x3"),
    ("bad keep_painted", dict(keep_painted="maybe"), 400, "keep_painted must be true or false"),
]


@pytest.mark.parametrize("name, fields, status, message", BAD, ids=[b[0] for b in BAD])
def test_bad_payloads_get_a_clear_error(client, photo_png, name, fields, status, message):
    fields = dict(fields)
    if "image" not in fields and "image_id" not in fields and name != "no image at all":
        fields["image"] = photo_png["coffee"]
    response = post(client, **fields)
    assert response.status_code == status, response.get_json()
    assert message in response.get_json()["error"]


def test_too_large_an_upload_is_413(client):
    response = post(client, image=b"\x89PNG\r\n\x1a\n" + b"\0" * (3 << 20))
    assert response.status_code == 413
    assert "too large" in response.get_json()["error"] and "2 MB" in response.get_json()["error"]


def test_the_page_reads_the_upload_limits_it_checks_from_the_web_app(client):
    from web_client.limits import Limits
    body = client.get("/api/limits").get_json()  # this app takes uploads of 2 MB
    assert body == {"upload_bytes": 2 << 20, "live_message_bytes": Limits(upload_mb=2).live_message_bytes}


def test_inference_down_is_503_with_a_plain_message(photo_png):
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = create_app({"TESTING": True, "INFERENCE_ADDR": f"127.0.0.1:{port}"}).test_client()
    response = post(client, image=photo_png["coffee"])
    assert response.status_code == 503
    assert "not reachable" in response.get_json()["error"] and response.get_json()["code"] == "UNAVAILABLE"
    assert client.get("/api/health").status_code == 503
    assert client.get("/api/models").status_code == 503


def test_samples_are_listed_and_served(tmp_path, server):
    from web_client.samples import extract
    extract(tmp_path)
    client = create_app({"TESTING": True, "INFERENCE_ADDR": server.address, "SAMPLES_DIR": tmp_path}).test_client()
    samples = client.get("/api/samples").get_json()
    assert {s["name"] for s in samples} >= {"coffee", "chelsea", "astronaut", "rocket", "grace_hopper"}
    image = client.get(samples[0]["url"])
    assert image.status_code == 200 and image.data[:3] == b"\xff\xd8\xff"
    assert client.get("/samples/../../etc/passwd").status_code == 404


def test_a_photos_regions_come_as_a_png_with_their_count(client, photo_png):
    from PIL import Image
    image_id = post(client, image=photo_png["chelsea"]).get_json()["image_id"]
    answer = client.get(f"/api/segments?image_id={image_id}")
    assert answer.status_code == 200 and answer.mimetype == "image/png"
    labels = np.asarray(Image.open(io.BytesIO(answer.data)))
    assert int(answer.headers["X-Maskscope-Regions"]) == labels.max() + 1
    assert client.get("/api/segments").status_code == 400
    missing = client.get("/api/segments?image_id=" + "ab" * 32)
    assert missing.status_code == 404 and "send the image" in missing.get_json()["error"]
