"""/api/search (what flips it, what keeps it: streamed progress, then the result) against the real
inference service."""

import base64
import io
import json

import numpy as np
from PIL import Image

from tests.web.test_views import post


def search(client, image=None, mask=None, regions=None, **fields):
    response = post(client, image, mask, path="/api/search", **fields) if regions is None else client.post(
        "/api/search", content_type="multipart/form-data",
        data={**{k: str(v) for k, v in fields.items()}, "image": (io.BytesIO(image), "photo.png"),
              "regions": (io.BytesIO(regions), "regions.png")})
    return response


def lines_of(response) -> list[dict]:
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def test_a_flip_streams_progress_then_a_mask_that_flips(client, photo_png):
    lines = lines_of(search(client, image=photo_png["coffee"]))
    result = lines[-1]["result"]
    assert result["found"] and result["goal"] == "flip" and result["label"] == "espresso"
    assert all("result" not in line for line in lines[:-1]) and lines[0]["budget"] == 2000
    assert result["hidden"].startswith("data:image/png;base64,")
    mask = base64.b64decode(result["hidden"].split(",", 1)[1])
    again = post(client, image=photo_png["coffee"], mask=mask).get_json()
    assert again["predictions"][0]["label"] == result["predictions"][0]["label"] != "espresso"


def test_a_keep_with_the_callers_regions(client, photo_png, photos):
    labels = np.zeros(photos["coffee"].shape[:2], np.uint8)
    labels[:, 300:] = 1
    labels[200:, :] += 2
    out = io.BytesIO()
    Image.fromarray(labels, "L").save(out, "PNG")
    result = lines_of(search(client, image=photo_png["coffee"], regions=out.getvalue(), goal="keep"))[-1]["result"]
    assert result["goal"] == "keep" and result["minimal"] and set(result["regions"]) <= {0, 1, 2, 3}
    assert result["region_count"] == 4


def test_bad_searches_get_400_with_the_reason(client, photo_png):
    for fields, message in [({"goal": "dance"}, "unknown goal 'dance'"),
                            ({"keep_share": "lots"}, "keep_share must be a number"),
                            ({"keep_share": "2"}, "keep_share must be between 0 and 1"),
                            ({"max_classifications": "999999"}, "max_classifications must be between 1 and"),
                            ({"class_index": "x"}, "class_index must be an integer")]:
        response = search(client, image=photo_png["coffee"], **fields)
        assert response.status_code == 400, fields
        assert message in response.get_json()["error"]
    not_png = search(client, image=photo_png["coffee"], regions=b"GIF89a")
    assert not_png.status_code == 400 and "regions must be a PNG" in not_png.get_json()["error"]
    assert search(client, image_id="0" * 64).status_code == 404
