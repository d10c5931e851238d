"""The gRPC server of one process: the Classifier, health and reflection services, serving a
ClassificationService until SIGTERM (`serve`: the models in this process; `frontend.py`: a
front-end of a `--workers` server)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from inference_service.batching.model_queues import ModelQueues
from inference_service.frontdoor.drain import CallCounter, accept_backlog
from inference_service.frontdoor.security import TokenAuthInterceptor, server_credentials
from inference_service.frontdoor.servicer import ClassifierServicer
from inference_service.pipeline.classification import ClassificationService
from inference_service.runtimes.models import ModelRegistry
from inference_service.settings import MB, batch_limits_from_args, limits_from_args, runtime_options_from_args
from maskscope.limits import UPLOAD_MB
from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc

log = logging.getLogger("inference_service")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Classifier"].full_name


def create_server(service: ClassificationService, address: str, *, max_receive_bytes: int = UPLOAD_MB * MB,
                  credentials: grpc.ServerCredentials | None = None, auth_token: str = "", reuse_port: bool = False
                  ) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """A server with the Classifier, health and reflection services, bound to `address` (not started).
    `reuse_port`: share the port with the other front-end processes of this server (SO_REUSEPORT:
    the kernel spreads connections over them); otherwise a port in use is an error."""
    counter = CallCounter()
    server = grpc.aio.server(
        interceptors=[counter, *([TokenAuthInterceptor(auth_token)] if auth_token else [])],
        options=[("grpc.max_receive_message_length", max_receive_bytes),
                 ("grpc.max_send_message_length", 64 * MB),
                 ("grpc.so_reuseport", 1 if reuse_port else 0)])
    pb_grpc.add_ClassifierServicer_to_server(ClassifierServicer(service), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    try:
        port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if port == 0:
        raise RuntimeError(f"could not bind {address} (is another server on that port?)")
    server.calls = counter  # what run_grpc waits on before it stops taking calls
    return server, port, health_servicer


async def set_serving(health_servicer, serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, status)


def load_models(args: argparse.Namespace) -> ModelRegistry:
    registry = ModelRegistry.load_dir(args.model_dir, runtime_options_from_args(args), args.max_batch_size)
    for model in registry.models.values():
        model.warm_up()
    return registry


def credentials_from_args(args: argparse.Namespace) -> grpc.ServerCredentials | None:
    if bool(args.tls_cert_file) != bool(args.tls_key_file):
        raise SystemExit("--tls-cert-file and --tls-key-file go together")
    return server_credentials(args.tls_cert_file, args.tls_key_file) if args.tls_cert_file else None


async def serve(args: argparse.Namespace) -> None:
    """One process: the models, their batchers and gRPC (`workers` runs several processes)."""
    registry = await asyncio.to_thread(load_models, args)
    queues = ModelQueues(registry, batch_limits_from_args(args))
    service = ClassificationService(queues, limits_from_args(args), queues.metrics)
    if args.metrics_port:
        service.metrics.serve(args.host, args.metrics_port)
        log.info("Prometheus metrics on http://%s:%d/metrics", args.host, args.metrics_port)

    def serving(port: int) -> None:
        log.info("Maskscope inference service listening on %s (%s)", display_address(args.host, port),
                 describe(args, queues.catalog, "one process"))

    await run_grpc(service, args, args.port, serving)


async def run_grpc(service: ClassificationService, args: argparse.Namespace, port: int, serving, *,
                   reuse_port: bool = False, stop: asyncio.Event | None = None) -> None:
    """Serves `service` over gRPC until SIGTERM or SIGINT (or `stop`): then NOT_SERVING, new calls
    refused, in-flight ones given --grace-period-s to finish. `serving(port)` once it is SERVING."""
    credentials = credentials_from_args(args)
    server, port, health_servicer = create_server(
        service, f"{args.host}:{port}", max_receive_bytes=int(args.max_receive_mb * MB), credentials=credentials,
        auth_token=args.auth_token, reuse_port=reuse_port)
    service.start()
    await server.start()
    await set_serving(health_servicer, True)
    serving(port)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: NOT_SERVING, finishing in-flight requests (grace %.1f s)", args.grace_period_s)
    await health_servicer.enter_graceful_shutdown()
    taken = await accept_backlog(server.calls, args.grace_period_s)
    log.info("refusing new calls (%d arrived while stopping)", taken)
    await server.stop(args.grace_period_s)
    await service.stop()
    log.info("stopped")


def display_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def describe(args: argparse.Namespace, catalog, processes: str) -> str:
    return (f"{'TLS' if args.tls_cert_file else 'plaintext'}{', token required' if args.auth_token else ''}; "
            f"{processes}; default model {catalog.default}; models "
            + ", ".join(f"{name} on {m.provider}" for name, m in sorted(catalog.models.items())))
