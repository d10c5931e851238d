"""One front-end process of a `--workers N` server: gRPC, the image cache, decoding and masking,
with the models in the model process behind a shared-memory link (started by `workers`)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys

from prometheus_client import generate_latest

from inference_service.batching.model_link import RemoteModelQueues
from inference_service.frontdoor.server import run_grpc
from inference_service.metrics import Metrics
from inference_service.pipeline.classification import ClassificationService
from inference_service.settings import build_parser, limits_from_args

log = logging.getLogger("inference_service.frontdoor.frontend")

LINK_ENV = "_MASKSCOPE_FRONTEND_LINK"  # how `workers` hands a front-end its link: JSON, not a flag


async def serve_frontend(args, link: dict) -> None:
    metrics = Metrics()
    queues = RemoteModelQueues(socket.socket(fileno=link["socket_fd"]), link["arena_fd"], link["slots"],
                               metrics_text=lambda: generate_latest(metrics.registry).decode())
    await queues.connect()
    service = ClassificationService(queues, limits_from_args(args), metrics)
    stop = asyncio.Event()
    gone = asyncio.ensure_future(queues.closed.wait())
    gone.add_done_callback(lambda _: stop.set())  # the model process is gone: nothing left to serve with
    try:
        await run_grpc(service, args, link["port"], lambda port: queues.ready(), reuse_port=True, stop=stop)
    finally:
        gone.cancel()


def main() -> None:
    if LINK_ENV not in os.environ:
        raise SystemExit("a front-end is started by `python -m inference_service --workers N`, which hands it "
                         "its link to the model process; run that instead")
    link = json.loads(os.environ.pop(LINK_ENV))
    args = build_parser().parse_args(sys.argv[1:])
    logging.basicConfig(level=args.log_level.upper(),
                        format=f"%(asctime)s %(levelname)s front-end {link['index']} %(name)s: %(message)s")
    asyncio.run(serve_frontend(args, link))


if __name__ == "__main__":
    main()
