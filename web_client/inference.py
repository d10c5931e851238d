"""The web app's one gRPC channel to the inference service, made once per app and reused."""

from __future__ import annotations

import grpc
from flask import Flask, current_app
from grpc_health.v1 import health_pb2, health_pb2_grpc

from maskscope.channel import make_channel, token_metadata
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


class Inference:
    """A channel and stubs for one inference service address."""

    def __init__(self, address: str, *, tls_ca_file: str = "", tls_server_name: str = "", auth_token: str = ""):
        self.address = address
        self.metadata = token_metadata(auth_token)
        self.channel = make_channel(address, tls_ca_file=tls_ca_file, tls_server_name=tls_server_name, options=[
            ("grpc.max_receive_message_length", 16 << 20),
            ("grpc.max_send_message_length", 64 << 20),
            # Notice a restarted or vanished service quickly, and reconnect soon after it is back.
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2_000),
            # With a dns:/// address of a headless Service: a connection to every pod, calls spread.
            ("grpc.lb_policy_name", "round_robin"),
        ])
        self.classifier = pb_grpc.ClassifierStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def serving(self, timeout_s: float = 1.0) -> bool:
        try:
            response = self.health.Check(health_pb2.HealthCheckRequest(), timeout=timeout_s, metadata=self.metadata)
        except grpc.RpcError:
            return False
        return response.status == health_pb2.HealthCheckResponse.SERVING

    def close(self) -> None:
        self.channel.close()


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Inference(app.config["INFERENCE_ADDR"],
                                          tls_ca_file=app.config["INFERENCE_TLS_CA_FILE"],
                                          tls_server_name=app.config["INFERENCE_TLS_SERVER_NAME"],
                                          auth_token=app.config["INFERENCE_AUTH_TOKEN"])


def get_inference() -> Inference:
    return current_app.extensions[EXTENSION]


def error_payload(error: grpc.RpcError) -> tuple[dict, int]:
    code = error.code()
    message = UNAVAILABLE_MESSAGE if code == grpc.StatusCode.UNAVAILABLE else error.details()
    return {"error": message, "code": code.name}, HTTP_STATUS.get(code, 502)
