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


class EchoStub:
    """A ClassifyStream that answers only the requests whose sequence is even."""

    def ClassifyStream(self, requests, metadata=()):
        for request in requests:
            if request.sequence % 2 == 0:
                yield pb.ClassifyResponse(sequence=request.sequence)


def test_each_answer_is_timed_once_and_a_failed_stream_counts_as_its_code():
    observed, done = [], threading.Event()

    def observe(method, code, seconds):
        observed.append((method, code, seconds))
        if len(observed) == 2:
            done.set()

    answered = threading.Event()
    bridge = StreamBridge(lambda request: EchoStub(), lambda text: answered.set(), observe=observe)
    for pair in ((1, 2), (3, 4)):  # the odd one is passed over (or, sent at once, replaced by the even one)
        answered.clear()
        for sequence in pair:
            bridge.send(pb.ClassifyRequest(image_id="x", sequence=sequence))
        assert answered.wait(5)
    assert done.wait(5)
    bridge.close()
    assert [(m, c) for m, c, _ in observed] == [("ClassifyStream", "OK"), ("ClassifyStream", "OK")]
    assert all(0 <= s < 5 for _, _, s in observed)
    assert bridge._sent_at == {}, "the passed-over 1 and 3 are dropped with the answers after them"

    failures = []
    dead = StreamBridge(lambda request: DeadStub(), lambda text: None, observe=lambda *a: failures.append(a[:2]))
    dead.send(pb.ClassifyRequest(image_id="x", sequence=1))
    deadline = time.monotonic() + 5
    while not failures and time.monotonic() < deadline:
        time.sleep(0.01)
    assert failures == [("ClassifyStream", "UNAVAILABLE")]


def test_a_page_that_never_gets_answers_is_timed_in_bounded_memory():
    class Silent:
        def ClassifyStream(self, requests, metadata=()):
            for _ in requests:
                pass
            yield from ()

    bridge = StreamBridge(lambda request: Silent(), lambda text: None, observe=lambda *a: None)
    for sequence in range(1000, 0, -1):  # newest first: none is ever passed over
        bridge.send(pb.ClassifyRequest(image_id="x", sequence=sequence))
    assert len(bridge._sent_at) <= 64
    bridge.close()


def test_a_page_that_sends_faster_than_the_service_answers_holds_one_waiting_request():
    """The service answers only the newest request anyway: the bridge keeps the newest not yet
    sent, not a queue that a flooding page could grow without end."""
    release, taken = threading.Event(), []

    class Slow:
        def ClassifyStream(self, requests, metadata=()):
            for request in requests:
                taken.append(request.sequence)
                release.wait(5)
                yield pb.ClassifyResponse(sequence=request.sequence)

    bridge = StreamBridge(lambda request: Slow(), lambda text: None)
    bridge.send(pb.ClassifyRequest(image_id="x", sequence=1))
    deadline = time.monotonic() + 5
    while not taken and time.monotonic() < deadline:
        time.sleep(0.01)
    for sequence in range(2, 10_002):  # while the first is in the service
        bridge.send(pb.ClassifyRequest(image_id="x", sequence=sequence))
    release.set()
    deadline = time.monotonic() + 5
    while len(taken) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    bridge.close()
    assert taken == [1, 10_001], "only the newest of the 10,000 waiting was sent"


def test_a_photo_goes_as_a_call_of_its_own_one_at_a_time_per_page():
    """The stream's reader keeps the last request it sent: a photo (megabytes) goes as a Classify
    call instead, and a page that sends photos faster than they are answered is told to wait."""
    from tests.unit.test_study_views import Unary
    calls, replies, release = [], [], threading.Event()

    class Stub:
        def classify(self, request):
            calls.append(request.sequence)
            release.wait(5)
            return pb.ClassifyResponse(sequence=request.sequence, image_id="ab" * 32)

        def __init__(self):
            self.Classify = Unary(self.classify)

        def ClassifyStream(self, requests, metadata=()):  # pragma: no cover: photos never take it
            raise AssertionError("a photo went down the stream")

    stub, given_back = Stub(), []
    bridge = StreamBridge(lambda request: stub, lambda text: replies.append(json.loads(text)))
    bridge.send(pb.ClassifyRequest(image=b"\x89PNG 1", sequence=1), release=lambda: given_back.append(1))
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    bridge.send(pb.ClassifyRequest(image=b"\x89PNG 2", sequence=2), release=lambda: given_back.append(2))
    assert replies == [{"sequence": 2, "code": "RESOURCE_EXHAUSTED",
                        "error": "one photo at a time: this page's last photo is still being classified"}]
    release.set()
    while len(replies) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls == [1] and replies[1]["sequence"] == 1 and sorted(given_back) == [1, 2]
    bridge.close()
