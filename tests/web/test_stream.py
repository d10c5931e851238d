"""The WebSocket bridge to ClassifyStream, with a real web server and inference service."""

import base64
import json

import numpy as np
import pytest
import simple_websocket

from tests.conftest import WebServer, png_bytes


@pytest.fixture(scope="module")
def web(server):
    process = WebServer(server.address)
    yield process
    process.stop()


@pytest.fixture
def ws(web):
    client = simple_websocket.Client.connect(web.url.replace("http://", "ws://") + "api/stream")
    yield client
    client.close()


def receive(ws, timeout_s=30):
    text = ws.receive(timeout=timeout_s)
    assert text is not None, "no answer on the WebSocket"
    return json.loads(text)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_photo_once_then_masks_and_the_newest_is_answered(ws, photos, photo_png):
    ws.send(json.dumps({"image": b64(photo_png["coffee"]), "sequence": 1, "top_k": 1000}))
    first = receive(ws)
    assert first["sequence"] == 1 and first["predictions"][0]["label"] in {"espresso", "cup", "coffee mug"}
    top = first["predictions"][0]
    for sequence in range(2, 12):
        mask = np.zeros((400, 600, 4), np.uint8)
        mask[40:40 + 28 * sequence, 120:470, 3] = 255
        ws.send(json.dumps({"image_id": first["image_id"], "mask": b64(png_bytes(mask)), "sequence": sequence,
                            "track": [top["class_index"]]}))
    answers = [receive(ws)]
    while answers[-1]["sequence"] != 11:
        answers.append(receive(ws))
    assert [a["sequence"] for a in answers] == sorted(a["sequence"] for a in answers)
    assert answers[-1]["tracked"][0]["probability"] < top["probability"] / 2


def test_bad_messages_get_errors_and_the_socket_stays_open(ws, photo_png):
    ws.send("this is not json")
    assert receive(ws)["code"] == "INVALID_ARGUMENT"
    ws.send(json.dumps({"image_id": "0" * 64, "sequence": 5}))
    missing = receive(ws)
    assert missing["sequence"] == 5 and missing["code"] == "NOT_FOUND" and "send the image" in missing["error"]
    ws.send(json.dumps({"image": "%%%", "sequence": 6}))
    assert "not valid base64" in receive(ws)["error"]
    ws.send(json.dumps({"image": b64(photo_png["rocket"]), "sequence": 7}))
    assert receive(ws)["predictions"]
