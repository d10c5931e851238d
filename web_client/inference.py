"""The web app's gRPC channels to the inference service, made once per app and reused."""

from __future__ import annotations

import json
import time
from typing import Callable

import grpc
from flask import Flask, current_app
from grpc_health.v1 import health_pb2, health_pb2_grpc

from maskscope.channel import make_channel, token_metadata
from maskscope.photos import photo_id
from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc

EXTENSION = "maskscope_inference"

# gRPC status -> (HTTP status, what the page tells the user).
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.UNAUTHENTICATED: 502,  # the web app's token is wrong: a deployment mistake, not the user's
}
UNAVAILABLE_MESSAGE = ("The inference service is not reachable right now. "
                       "Maskscope keeps trying and will carry on by itself when it is back.")


# Each channel keeps one connection, to one server process picked at random among the addresses
# (with a dns:/// address of a headless Service, among the pods).
_ONE_CONNECTION = json.dumps({"loadBalancingConfig": [{"pick_first": {"shuffleAddressList": True}}]})


def route(channels: int, image_id: str) -> int:
    """Which channel carries the calls about a photo: always the same one for one photo, so that
    they reach the server process whose image cache holds it."""
    return int(image_id[:8], 16) % channels


class CallTimer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Times every unary and server-streaming call on a channel to its end (an Explain: to its last
    row) and hands `observe(method, code, seconds)` the figure. ClassifyStream lives as long as a
    page: its answers are timed one by one instead (web_client/stream.py)."""

    def __init__(self, observe: Callable[[str, str, float], None]):
        self._observe = observe

    def _timed(self, continuation, details, request):
        start = time.perf_counter()
        call = continuation(details, request)  # a finished outcome, or a call still running
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        method = method.rsplit("/", 1)[-1]
        call.add_done_callback(lambda done: self._observe(method, done.code().name, time.perf_counter() - start))
        return call

    def intercept_unary_unary(self, continuation, details, request):
        return self._timed(continuation, details, request)

    def intercept_unary_stream(self, continuation, details, request):
        return self._timed(continuation, details, request)


class Inference:
    """`channels` connections to one inference service address, and stubs.

    Calls about a photo go over the connection its id picks (`for_photo`): a server of several
    processes, or several pods, keeps each photo in the cache of the process its connection
    reaches, and the photos (so the work) spread over the processes the connections reached when
    they were made. If a connection breaks and lands elsewhere, the server answers NOT_FOUND and
    the page sends the photo again.
    """

    def __init__(self, address: str, *, tls_ca_file: str = "", tls_server_name: str = "", auth_token: str = "",
                 channels: int = 8, observe: Callable[[str, str, float], None] | None = None):
        if channels < 1:
            raise ValueError("channels must be at least 1")
        self.address = address
        self.metadata = token_metadata(auth_token)
        options = [
            ("grpc.max_receive_message_length", 16 << 20),
            ("grpc.max_send_message_length", 64 << 20),
            # Notice a restarted or vanished service quickly, and reconnect soon after it is back.
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2_000),
            ("grpc.service_config", _ONE_CONNECTION),
            ("grpc.use_local_subchannel_pool", 1),  # a connection per channel, not one shared by all
        ]
        self.channels = [make_channel(address, tls_ca_file=tls_ca_file, tls_server_name=tls_server_name,
                                      options=options) for _ in range(channels)]
        if observe is not None:
            self.channels = [grpc.intercept_channel(channel, CallTimer(observe)) for channel in self.channels]
        self.classifiers = [pb_grpc.ClassifierStub(channel) for channel in self.channels]
        self.classifier = self.classifiers[0]  # for calls about no photo (ListModels)
        self.health = health_pb2_grpc.HealthStub(self.channels[0])
        self.channel = self.channels[0]

    def for_photo(self, request) -> pb_grpc.ClassifierStub:
        """The stub for a ClassifyRequest or ExplainRequest, by its photo."""
        if request.WhichOneof("source") == "image_id":
            image_id = request.image_id
        else:
            image_id = photo_id(request.image)  # the id the server gives it
        try:
            return self.classifiers[route(len(self.classifiers), image_id)]
        except ValueError:  # not an id the server gave: it answers NOT_FOUND, on any channel
            return self.classifier

    def serving(self, timeout_s: float = 1.0) -> bool:
        try:
            response = self.health.Check.future(health_pb2.HealthCheckRequest(), timeout=timeout_s,
                                                metadata=self.metadata).result()
        except grpc.RpcError:
            return False
        return response.status == health_pb2.HealthCheckResponse.SERVING

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


def init_app(app: Flask, observe: Callable[[str, str, float], None] | None = None) -> None:
    """`observe(method, code, seconds)`: told how long each call took (the app's metrics)."""
    app.extensions[EXTENSION] = Inference(app.config["INFERENCE_ADDR"],
                                          tls_ca_file=app.config["INFERENCE_TLS_CA_FILE"],
                                          tls_server_name=app.config["INFERENCE_TLS_SERVER_NAME"],
                                          auth_token=app.config["INFERENCE_AUTH_TOKEN"],
                                          channels=app.config["INFERENCE_CHANNELS"], observe=observe)


def get_inference() -> Inference:
    return current_app.extensions[EXTENSION]


# What the app's routes call: over the photo's connection, with the token and a deadline. Unary
# calls wait on their future: under gevent that wait is a greenlet's (a blocking call would hold
# one of gRPC's native polling threads for as long as it takes).
CLASSIFY_TIMEOUT_S = 30
EXPLAIN_TIMEOUT_S = 300  # an occlusion map or a region search: hundreds of copies, bulk behind painters
LIST_TIMEOUT_S = 5


def classify(request: pb.ClassifyRequest) -> pb.ClassifyResponse:
    inference = get_inference()
    return inference.for_photo(request).Classify.future(request, timeout=CLASSIFY_TIMEOUT_S,
                                                        metadata=inference.metadata).result()


def list_models() -> pb.ListModelsResponse:
    inference = get_inference()
    return inference.classifier.ListModels.future(pb.ListModelsRequest(), timeout=LIST_TIMEOUT_S,
                                                  metadata=inference.metadata).result()


def explain(request: pb.ExplainRequest):
    """The Explain stream: progress, then the map."""
    inference = get_inference()
    return inference.for_photo(request).Explain(request, timeout=EXPLAIN_TIMEOUT_S, metadata=inference.metadata)


def search(request: pb.SearchRequest):
    """The Search stream: progress, then the result."""
    inference = get_inference()
    return inference.for_photo(request).Search(request, timeout=EXPLAIN_TIMEOUT_S, metadata=inference.metadata)


def segments(request: pb.SegmentsRequest) -> pb.SegmentsResponse:
    inference = get_inference()
    return inference.for_photo(request).Segments.future(request, timeout=CLASSIFY_TIMEOUT_S,
                                                        metadata=inference.metadata).result()


def error_payload(error: grpc.RpcError) -> tuple[dict, int]:
    code = error.code()
    message = UNAVAILABLE_MESSAGE if code == grpc.StatusCode.UNAVAILABLE else error.details()
    return {"error": message, "code": code.name}, HTTP_STATUS.get(code, 502)
