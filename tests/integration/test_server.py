"""inference_service/frontdoor/server.py for real: a server bound where it is told (never sharing
a port silently), SERVING only when told."""

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inference_service.frontdoor.server import create_server, credentials_from_args, set_serving
from inference_service.settings import build_parser


class NoService:
    catalog = metrics = None


async def test_a_port_in_use_is_an_error_and_health_says_what_it_is_told():
    server, port, health = create_server(NoService(), "127.0.0.1:0")
    await server.start()
    try:
        with pytest.raises(RuntimeError, match=f"could not bind 127.0.0.1:{port}"):
            create_server(NoService(), f"127.0.0.1:{port}")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for serving, status in ((True, health_pb2.HealthCheckResponse.SERVING),
                                    (False, health_pb2.HealthCheckResponse.NOT_SERVING)):
                await set_serving(health, serving)
                for name in ("", "maskscope.v1.Classifier"):
                    assert (await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)).status == status
    finally:
        await server.stop(None)


def test_tls_needs_both_files():
    with pytest.raises(SystemExit, match="go together"):
        credentials_from_args(build_parser().parse_args(["--tls-cert-file", "server.crt"]))
    assert credentials_from_args(build_parser().parse_args([])) is None
