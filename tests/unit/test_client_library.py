"""The Python client refuses what the service would refuse before it sends anything.

The client points at a listening socket that never answers: a request would show up there as a
connection, so no connection proves nothing was sent (and the controls prove one would show)."""

import socket

import grpc
import numpy as np
import pytest

from maskscope import Client, ServiceError
from maskscope.photos import PhotoError
from tests.conftest import png_bytes

PHOTO = np.zeros((30, 40, 3), np.uint8)


@pytest.fixture
def listener():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        s.settimeout(0.2)  # a request connects at once: the refusals are synchronous
        yield s


def connected(listener: socket.socket) -> bool:
    try:
        listener.accept()[0].close()
        return True
    except TimeoutError:
        return False


@pytest.fixture
def client(listener):
    with Client(f"127.0.0.1:{listener.getsockname()[1]}", timeout_s=0.5) as c:
        yield c


@pytest.mark.parametrize("call", [
    lambda c: c.classify(PHOTO, np.zeros((40, 30), bool)),
    lambda c: c.classify(PHOTO, png_bytes(np.zeros((3, 3), bool))),
    lambda c: c.explain(PHOTO, np.zeros((30, 41), bool)),
    lambda c: c.session(PHOTO).hide(np.zeros((29, 40), bool)),
])
def test_a_mask_of_another_size_is_refused_before_any_request(client, listener, call):
    with pytest.raises(ValueError, match=r"mask is \d+x\d+ but the image is 40x30"):
        call(client)
    assert not connected(listener)


@pytest.mark.parametrize("call, error, message", [
    (lambda c: c.classify(PHOTO > 0), TypeError, "bool array"),
    (lambda c: c.classify([1, 2]), TypeError, "photo is a list"),
    (lambda c: c.classify(PHOTO, mask=[[True]]), TypeError, "mask is a list"),
    (lambda c: c.classify(b"not an image"), PhotoError, "could not be read"),
    (lambda c: c.classify(PHOTO, fill="pink"), ValueError, "unknown fill 'pink'; give one of gray, black"),
])
def test_bad_photos_masks_and_fills_are_refused_before_any_request(client, listener, call, error, message):
    with pytest.raises(error, match=message):
        call(client)
    assert not connected(listener)


def test_a_right_sized_mask_is_sent_and_a_silent_server_is_a_service_error(client, listener):
    with pytest.raises(ServiceError) as failed:
        client.classify(PHOTO, np.ones((30, 40), bool))
    assert connected(listener)
    assert isinstance(failed.value, RuntimeError) and failed.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert str(failed.value).startswith("DEADLINE_EXCEEDED: ")


def test_nobody_listening_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with Client(f"127.0.0.1:{port}", timeout_s=5) as c, pytest.raises(ServiceError) as failed:
        c.models()
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE
