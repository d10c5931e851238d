"""Bridges one browser WebSocket to one ClassifyStream RPC (re-opened after the service returns)."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable

import grpc

from maskscope.v1 import classifier_pb2 as pb
from web_client.inference import CLASSIFY_TIMEOUT_S, error_payload
from web_client.messages import response_json

log = logging.getLogger(__name__)

STATUS_BY_NUMBER = {status.value[0]: status for status in grpc.StatusCode}
MAX_TIMED = 64  # requests awaiting their answer that are timed, per page


def _nothing() -> None:
    pass


class Mailbox:
    """The requests a ClassifyStream sends, as the iterator gRPC reads them from: only the newest
    not yet sent is kept (the service answers only the newest anyway), so a page that sends
    faster than the service answers holds one waiting request, never a queue of them. A request
    may come with `release()`, called once gRPC is done with it (when it has the next: until then
    it keeps the last), or it is replaced, or dropped."""

    def __init__(self):
        self._ready = threading.Condition()
        self._waiting: pb.ClassifyRequest | None = None
        self._release = _nothing
        self._sending = _nothing  # the release of the request gRPC is sending
        self._ended = False

    def put(self, request: pb.ClassifyRequest, release=_nothing) -> None:
        with self._ready:
            replaced, self._release = self._release, release
            self._waiting = request
            self._ready.notify()
        replaced()

    def end(self) -> None:
        """The stream sends nothing more: gRPC's reader stops (a request still waiting is dropped)."""
        with self._ready:
            self._ended, self._waiting = True, None
            dropped, self._release = self._release, _nothing
            sent, self._sending = self._sending, _nothing
            self._ready.notify()
        dropped()
        sent()

    def __iter__(self):
        return self

    def __next__(self) -> pb.ClassifyRequest:
        with self._ready:
            while self._waiting is None and not self._ended:
                self._ready.wait()
            if self._ended:
                raise StopIteration
            request, self._waiting = self._waiting, None
            sent, self._sending, self._release = self._sending, self._release, _nothing
        sent()
        return request


class StreamBridge:
    """Requests go into one long-lived ClassifyStream; its answers go to `send` as JSON text.

    If the RPC fails (the service went away), the newest request gets an error answer and the next
    request opens a fresh stream, so the page recovers without reloading. `stub_for(request)`: the
    stub a stream opened for that request goes over (its photo's connection). `observe(method,
    code, seconds)` is told how long each answer took from its request.
    """

    def __init__(self, stub_for: Callable, send: Callable[[str], None], metadata: tuple = (),
                 observe: Callable[[str, str, float], None] | None = None):
        self._stub_for = stub_for
        self._observe = observe
        self._sent_at: dict[int, float] = {}  # sequence -> when it went out, until its answer
        self._sent_lock = threading.Lock()
        self._metadata = metadata
        self._send_text = send
        self._send_lock = threading.Lock()
        self._outbox: Mailbox | None = None
        self._latest_sequence = 0
        self._photo_in_flight = False  # one photo's Classify call at a time per page

    def send(self, request: pb.ClassifyRequest, release=_nothing) -> None:
        """`release()`: called once gRPC is done with the request, or it is passed over (Mailbox)."""
        self._latest_sequence = request.sequence
        if request.WhichOneof("source") == "image":
            self._classify_alone(request, release)  # timed as a Classify call, by the channel's interceptor
            return
        if self._observe is not None:
            with self._sent_lock:
                self._sent_at[request.sequence] = time.perf_counter()
                if len(self._sent_at) > MAX_TIMED:  # a page's sequence numbers that never get answers
                    del self._sent_at[min(self._sent_at)]
        # A local reference: the pump thread may drop a failed stream's outbox at any moment.
        outbox = self._outbox or self._open(request)
        outbox.put(request, release)

    def _classify_alone(self, request: pb.ClassifyRequest, release) -> None:
        """A photo (megabytes) goes as a Classify call of its own: the stream's reader keeps the
        last request it sent for as long as the stream is open, which for a photo would be tens of
        MB outside the in-flight budget. Its answer joins the stream's on the page; one at a time
        (a page that sends photos faster is told to wait, not given a call for each)."""
        if self._photo_in_flight:
            release()
            self.reply({"sequence": request.sequence, "code": grpc.StatusCode.RESOURCE_EXHAUSTED.name,
                        "error": "one photo at a time: this page's last photo is still being classified"})
            return
        self._photo_in_flight = True

        def call(request=request):
            try:
                response = self._stub_for(request).Classify.future(
                    request, timeout=CLASSIFY_TIMEOUT_S, metadata=self._metadata).result()
                payload = response_json(response)
            except grpc.RpcError as exc:
                payload = {"sequence": request.sequence, **error_payload(exc)[0]}
            finally:
                request = None
                release()
                self._photo_in_flight = False
            try:
                self.reply(payload)
            except Exception:  # the page went away
                pass
        threading.Thread(target=call, daemon=True, name="classify-photo").start()

    def reply(self, payload: dict) -> None:
        with self._send_lock:
            self._send_text(json.dumps(payload))

    def close(self) -> None:
        if self._outbox is not None:
            self._outbox.end()
            self._outbox = None

    def _open(self, first: pb.ClassifyRequest) -> Mailbox:
        outbox = self._outbox = Mailbox()
        call = self._stub_for(first).ClassifyStream(outbox, metadata=self._metadata)
        threading.Thread(target=self._pump, args=(call, outbox), daemon=True, name="classify-stream").start()
        return outbox

    def _answered(self, sequence: int | None, code: str) -> None:
        """Times the answer to `sequence`; None: the stream failed, which answers every request
        still waiting (counted once, as the newest of them)."""
        if self._observe is None:
            return
        with self._sent_lock:
            if sequence is None:
                sent = self._sent_at[max(self._sent_at)] if self._sent_at else None
                self._sent_at.clear()
            else:
                sent = self._sent_at.pop(sequence, None)
                # Requests the service passed over for a newer one get no answer of their own.
                for older in [s for s in self._sent_at if s < sequence]:
                    del self._sent_at[older]
        if sent is not None:
            self._observe("ClassifyStream", code, time.perf_counter() - sent)

    def _pump(self, call, outbox: Mailbox) -> None:
        try:
            for response in call:
                if response.HasField("error"):
                    code = STATUS_BY_NUMBER.get(response.error.code, grpc.StatusCode.UNKNOWN)
                    self._answered(response.sequence, code.name)
                    self.reply({"sequence": response.sequence, "error": response.error.message, "code": code.name})
                else:
                    self._answered(response.sequence, "OK")
                    self.reply(response_json(response))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return
            log.warning("ClassifyStream ended: %s %s", exc.code().name, exc.details())
            self._answered(None, exc.code().name)
            payload, _ = error_payload(exc)
            if self._outbox is outbox:
                self._outbox = None  # the next request opens a new stream
            outbox.end()
            try:
                self.reply({"sequence": self._latest_sequence, **payload})
            except Exception:  # the page went away as well
                pass
        except Exception:  # the WebSocket closed under us
            call.cancel()
