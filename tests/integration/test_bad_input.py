"""Every kind of bad (or merely unusual) input, over gRPC and over HTTP, against the real server."""

import io
import struct
import zlib

import grpc
import numpy as np
import pytest
from PIL import Image

from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc
from tests.conftest import png_bytes
from web_client import create_app

OK = "OK"


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height but holds almost nothing: a decompression bomb's header."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def photo(mode="RGB", size=(64, 48)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(photo(), "JPEG", exif=exif)


def animated_gif() -> bytes:
    frames = [photo(), photo().rotate(90)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


JPEG = encode(photo(), "JPEG")
PNG = encode(photo(), "PNG")
SIXTEEN_BIT = encode(Image.fromarray((np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16)), "PNG")
FLOAT_TIFF = encode(Image.fromarray(np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(48, 64)), "TIFF")

# name, request fields, gRPC status, HTTP status, words the message must hold
CASES = [
    ("empty bytes", dict(image=b""), "INVALID_ARGUMENT", 400, "no image"),
    ("not an image", dict(image=b"just some text, no pixels"), "INVALID_ARGUMENT", 400, "not an image|could not be read"),
    ("truncated PNG", dict(image=PNG[: len(PNG) // 2]), "INVALID_ARGUMENT", 400, "truncated"),
    ("truncated JPEG", dict(image=JPEG[: len(JPEG) // 3]), "INVALID_ARGUMENT", 400, "truncated"),
    ("decompression bomb", dict(image=png_header_only(30_000, 30_000)), "INVALID_ARGUMENT", 400,
     "900000000 pixels; the limit is"),
    ("huge dimensions", dict(image=png_header_only(100_000, 100_000)), "INVALID_ARGUMENT", 400, "the limit is"),
    ("a long thin strip", dict(image=png_header_only(1_000_000, 2)), "INVALID_ARGUMENT", 400,
     "differ by a factor of at most 50"),
    ("tiny 1x1 image", dict(image=encode(photo(size=(1, 1)), "PNG")), OK, 200, ""),
    ("palette PNG", dict(image=encode(photo("P"), "PNG")), OK, 200, ""),
    ("grey with alpha", dict(image=encode(photo("LA"), "PNG")), OK, 200, ""),
    ("CMYK JPEG", dict(image=encode(photo("CMYK"), "JPEG")), OK, 200, ""),
    ("16-bit PNG", dict(image=SIXTEEN_BIT), OK, 200, ""),
    ("float TIFF", dict(image=FLOAT_TIFF), OK, 200, ""),
    ("animated GIF", dict(image=animated_gif()), OK, 200, ""),
    ("WebP", dict(image=encode(photo(), "WEBP")), OK, 200, ""),
    ("mask of the wrong size", dict(image=PNG, mask=png_bytes(np.zeros((5, 5), np.uint8))), "INVALID_ARGUMENT", 400,
     "mask is 5x5 but the image is 64x48"),
    ("mask not an image", dict(image=PNG, mask=b"\x89PNG\r\n\x1a\nnot really"), "INVALID_ARGUMENT", 400,
     "mask could not be read"),
    ("top_k too large", dict(image=PNG, top_k=1001), "INVALID_ARGUMENT", 400, "top_k must be between 1 and 1000"),
    ("top_k negative", dict(image=PNG, top_k=-3), "INVALID_ARGUMENT", 400, "top_k must be between 1 and 1000"),
    ("unknown model", dict(image=PNG, model="vgg19"), "NOT_FOUND", 404, "unknown model 'vgg19'"),
    ("unknown image_id", dict(image_id="ab" * 32), "NOT_FOUND", 404, "send the image itself again"),
    ("oversized message", dict(image=b"\xff\xd8\xff" + b"\0" * (17 << 20)), "RESOURCE_EXHAUSTED", 413, ""),
]
IDS = [case[0] for case in CASES]


def message_ok(message: str, words: str) -> bool:
    return not words or any(option in message for option in words.split("|"))


@pytest.mark.parametrize("name, fields, code, http_status, words", CASES, ids=IDS)
def test_grpc(channel, name, fields, code, http_status, words):
    stub = pb_grpc.ClassifierStub(channel)
    try:
        response = stub.Classify(pb.ClassifyRequest(**fields), timeout=30)
    except grpc.RpcError as error:
        assert error.code().name == code, error.details()
        assert message_ok(error.details(), words), error.details()
        return
    assert code == OK, f"expected {code}, got an answer"
    assert len(response.predictions) == 5


@pytest.mark.parametrize("name, fields, code, http_status, words", CASES, ids=IDS)
def test_http(server, name, fields, code, http_status, words):
    client = create_app({"TESTING": True, "INFERENCE_ADDR": server.address}).test_client()
    data = {key: str(value) for key, value in fields.items() if key not in ("image", "mask")}
    for key in ("image", "mask"):
        if key in fields:
            data[key] = (io.BytesIO(fields[key]), f"{key}.bin")
    response = client.post("/api/classify", data=data)
    assert response.status_code == http_status, response.get_json()
    if http_status != 200:
        assert message_ok(response.get_json()["error"], words), response.get_json()


def test_exif_orientation_is_reported_upright(channel):
    response = pb_grpc.ClassifierStub(channel).Classify(pb.ClassifyRequest(image=exif_rotated()), timeout=30)
    assert (response.image_width, response.image_height) == (48, 64)


def test_the_server_is_still_serving_after_all_that(channel, photo_png, server):
    assert server.process.poll() is None
    response = pb_grpc.ClassifierStub(channel).Classify(pb.ClassifyRequest(image=photo_png["coffee"]), timeout=30)
    assert response.predictions[0].label in ("espresso", "cup", "coffee mug")
