"""StreamBridge on its own: a stream that fails at once must not break the next send."""

import json
import threading
import time

import grpc

from maskscope.v1 import classifier_pb2 as pb
from web_client.stream import StreamBridge


class Unavailable(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.UNAVAILABLE

    def details(self):
        return "connections to all backends failing"


class DeadStub:
    """A ClassifyStream whose connection fails before it answers anything."""

    def __init__(self):
        self.opened = 0

    def ClassifyStream(self, requests, metadata=()):
        self.opened += 1

        def responses():
            raise Unavailable()
            yield  # pragma: no cover
        return responses()


def test_sends_after_a_failed_stream_open_a_new_one_and_every_failure_is_reported():
    replies, lock = [], threading.Lock()

    def send(text):
        with lock:
            replies.append(json.loads(text))

    stub = DeadStub()
    bridge = StreamBridge(lambda request: stub, send)
    for sequence in range(1, 30):
        bridge.send(pb.ClassifyRequest(image_id="x", sequence=sequence))  # must never raise
        time.sleep(0.001)
    deadline = time.monotonic() + 5
    while not replies and time.monotonic() < deadline:
        time.sleep(0.01)
    bridge.close()
    assert stub.opened >= 2, "a failed stream is replaced by a new one"
    assert replies and all(r["code"] == "UNAVAILABLE" and "not reachable" in r["error"] for r in replies)
