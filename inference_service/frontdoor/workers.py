"""`--workers N`: N front-end processes on one port feed the models of this process, the model
process, through shared memory.

One Python process cannot feed a GPU: its gRPC handling, decoding and masking run one request at
a time under the interpreter's lock, ~1-2 ms each, where a GPU runs thousands of images a second.
The front-ends do that work in parallel; the models stay in one process, so every request still
meets one batcher per model (large batches, and painters before bulk work across all clients) and
one set of sessions on the GPU. Front-ends are started as fresh interpreters (not forked), bind
the same port with SO_REUSEPORT (the kernel spreads connections over them, and a connection stays
on its front-end, with that front-end's image cache), and are started again if one dies.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from inference_service.batching.model_link import Arena, LinkServer, arena_shape
from inference_service.batching.model_queues import ModelQueues
from inference_service.frontdoor.frontend import LINK_ENV
from inference_service.frontdoor.server import describe, display_address, load_models
from inference_service.settings import batch_limits_from_args

log = logging.getLogger("inference_service.frontdoor.workers")

READY_TIMEOUT_S = 120.0
RESPAWN_PAUSE_S = 1.0


def reserve_port(host: str, port: int) -> tuple[socket.socket, int]:
    """Binds (without listening) a SO_REUSEPORT socket: the port, chosen here when 0, stays ours
    while the front-ends bind it too (gRPC's own multiprocessing example does the same)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address = (host.strip("[]"), port)
    try:
        if port:  # first without SO_REUSEPORT: another server's port must not be joined silently
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind(address)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        raise SystemExit(f"could not bind {display_address(host, port)}: {exc}") from None
    return sock, sock.getsockname()[1]


class Frontend:
    """One front-end process and its link."""

    def __init__(self, index: int, argv: list[str], port: int, queues: ModelQueues, slots: int):
        self.index = index
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.arena = Arena.create(f"maskscope-frontend-{index}", slots, *arena_shape(queues.catalog))
        link = {"index": index, "socket_fd": theirs.fileno(), "arena_fd": self.arena.fd, "slots": slots, "port": port}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "inference_service.frontdoor.frontend", *argv],
            pass_fds=(theirs.fileno(), self.arena.fd), env={**os.environ, LINK_ENV: json.dumps(link)})
        theirs.close()
        self.link = LinkServer(index, ours, self.arena, queues)
        self.arena.release_fd()  # mapped here and handed over: the memory lives as long as its mappings
        self.link.start()

    def close(self) -> None:
        """Once its process has exited: the link's socket goes (its slots' memory with their last view)."""
        self.link.close()


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """The model process: loads the models, starts the front-ends, and serves until SIGTERM."""
    # The cores are shared with the front-ends: a model worker kept on one core could not make way
    # for them (docs/benchmarks.md, "Serving at scale").
    args = argparse.Namespace(**{**vars(args), "pin_workers": False})
    registry = load_models(args)
    queues = ModelQueues(registry, batch_limits_from_args(args))
    queues.start()
    reservation, port = reserve_port(args.host, args.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    frontends = [Frontend(i, argv, port, queues, args.max_queue_size) for i in range(args.workers)]
    try:
        started = _wait_ready(frontends, stop)
        if started != "ready":
            return 0 if started == "stopped" else 1
        if args.metrics_port:
            serve_metrics(args.host, args.metrics_port, queues.metrics.registry, lambda: [f.link for f in frontends])
            log.info("Prometheus metrics on http://%s:%d/metrics", args.host, args.metrics_port)
        log.info("Maskscope inference service listening on %s (%s)", display_address(args.host, port),
                 describe(args, queues.catalog, f"{args.workers} front-end processes and this model process"))
        while not stop.wait(0.2):
            for i, frontend in enumerate(frontends):
                code = frontend.process.poll()
                if code is not None and not stop.is_set():
                    log.warning("front-end %d (pid %d) exited with %s; starting it again", i, frontend.process.pid,
                                code)
                    frontend.close()
                    time.sleep(RESPAWN_PAUSE_S)
                    frontends[i] = Frontend(i, argv, port, queues, args.max_queue_size)
        log.info("stopping: the front-ends finish their in-flight requests (grace %.1f s)", args.grace_period_s)
        return 0
    finally:
        _stop_all(frontends, args.grace_period_s)
        queues.close()
        reservation.close()
        log.info("stopped")


def _wait_ready(frontends: list[Frontend], stop: threading.Event) -> str:
    """"ready" once every front-end serves; "stopped" on SIGTERM meanwhile; "failed" otherwise."""
    end = time.monotonic() + READY_TIMEOUT_S
    while not all(f.link.ready.is_set() for f in frontends):
        for f in frontends:
            if f.process.poll() is not None:
                log.error("front-end %d exited with %s before it was serving", f.index, f.process.returncode)
                return "failed"
        if stop.is_set():
            return "stopped"
        if time.monotonic() > end:
            log.error("the front-ends did not all start serving within %.0f s", READY_TIMEOUT_S)
            return "failed"
        time.sleep(0.05)
    return "ready"


def _stop_all(frontends: list[Frontend], grace_s: float) -> None:
    """SIGTERM to every front-end: each drains (NOT_SERVING, in-flight requests finish) and
    exits; the models keep running meanwhile. Whatever is left after the grace period is killed."""
    for f in frontends:
        if f.process.poll() is None:
            f.process.send_signal(signal.SIGTERM)
    end = time.monotonic() + grace_s + 5.0
    for f in frontends:
        try:
            f.process.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("front-end %d did not stop in time; killing it", f.index)
            f.process.kill()
            f.process.wait()


# -- one /metrics for every process ------------------------------------------------------------

def merge_expositions(texts: list[str]) -> list[Metric]:
    """Prometheus text from several processes as one set of metrics: each sample (name and
    labels) summed over the processes (counters, histograms, and the gauges here, which are
    per-process shares of a total: queued requests, cached images). `_created` samples are left
    out (one process's creation time means nothing for a sum)."""
    families: dict[str, Metric] = {}
    values: dict[str, dict] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            merged = families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                bucket = values.setdefault(family.name, {})
                bucket[key] = bucket.get(key, 0.0) + sample.value
    for name, merged in families.items():
        for (sample, labels), value in values.get(name, {}).items():
            merged.add_sample(sample, dict(labels), value)
    return list(families.values())


class _MergedCollector:
    def __init__(self, own: CollectorRegistry, links):
        self.own, self.links = own, links

    def collect(self):
        texts = [generate_latest(self.own).decode()]
        texts += [text for link in self.links() if not link.closed.is_set() and (text := link.metrics_text())]
        return merge_expositions(texts)


def serve_metrics(host: str, port: int, own: CollectorRegistry, links) -> None:
    registry = CollectorRegistry()
    registry.register(_MergedCollector(own, links))
    start_http_server(port, addr=host, registry=registry)
