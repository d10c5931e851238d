"""Optional TLS and a shared-token check for the gRPC server."""

from __future__ import annotations

import hmac
from pathlib import Path

import grpc

from maskscope.flags import is_loopback

# Probes (Kubernetes' native gRPC probes cannot send a token) and only they go without one.
OPEN_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})
UNAUTHENTICATED_MESSAGE = "missing or wrong token: send metadata 'authorization: Bearer <token>'"


EXPOSED_WITHOUT_TOKEN = ("--host {host} serves other machines, and with no --auth-token anyone who reaches the "
                         "port can use the service: set --auth-token (or MASKSCOPE_AUTH_TOKEN_FILE), or say "
                         "--allow-unauthenticated to serve it open on a network you trust")


def open_to_others(host: str, auth_token: str) -> bool:
    """A server that would take calls from other machines with no token: refused unless asked for."""
    return not auth_token and not is_loopback(host)


async def _deny(request, context):
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)


async def _deny_streaming(request, context):
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)
    yield  # never reached: makes this a response stream


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call without `authorization: Bearer <token>` (compared in constant time)."""

    def __init__(self, token: str):
        if not token:
            raise ValueError("an empty token would let everyone in")
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method in OPEN_METHODS:
            return handler
        sent = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(str(sent).encode(), self._expected):
            return handler
        kwargs = dict(request_deserializer=handler.request_deserializer,
                      response_serializer=handler.response_serializer)
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(_deny_streaming, **kwargs)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(_deny, **kwargs)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(_deny_streaming, **kwargs)
        return grpc.unary_unary_rpc_method_handler(_deny, **kwargs)


def server_credentials(cert_file: Path, key_file: Path) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials([(Path(key_file).read_bytes(), Path(cert_file).read_bytes())])
