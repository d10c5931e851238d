"""Prometheus metrics of the web tier: HTTP requests by route and status, upload sizes, open
WebSockets, and how long its gRPC calls to the inference service take.

Under gunicorn (`python -m web_client --metrics-port 9090`) every worker process writes its samples
to files in one folder (prometheus_client's multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`, set by
`__main__` before any worker starts) and the master serves their sum on its own port, as the
inference service does: the Ingress never routes to it. A plain Flask app (the tests) keeps them in
the app's own registry. prometheus_client reads `PROMETHEUS_MULTIPROC_DIR` when it is first
imported, so only `create_app` and the gunicorn master import this module.
"""

from __future__ import annotations

import time

from flask import Flask, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, start_http_server

EXTENSION = "maskscope_metrics"
UNMATCHED_ROUTE = "(unmatched)"  # any path that is no route: one label, however many paths are tried
# gunicorn takes any method name a client makes up: the rest count as one, so no client can add series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "(other)"
_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_UPLOAD_BUCKETS_BYTES = tuple(1 << shift for shift in range(10, 26, 2))  # 1 KiB .. 16 MiB, 4x apart


class WebMetrics:
    def __init__(self):
        self.registry = r = CollectorRegistry()
        self.requests = Counter("maskscope_web_requests", "HTTP requests answered, by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.request_seconds = Histogram("maskscope_web_request_seconds",
                                         "Time until the response starts, by route (/api/stream: the WebSocket's life)",
                                         ["route"], buckets=_LATENCY_BUCKETS_S, registry=r)
        self.upload_bytes = Histogram("maskscope_web_upload_bytes", "Request bodies (uploads), in bytes, by route",
                                      ["route"], buckets=_UPLOAD_BUCKETS_BYTES, registry=r)
        self.websockets_open = Gauge("maskscope_web_websockets_open", "Live-mode WebSockets open now",
                                     registry=r, multiprocess_mode="livesum")
        self.inference_seconds = Histogram(
            "maskscope_web_inference_seconds",
            "gRPC calls to the inference service, by method and status code (ClassifyStream: each answer)",
            ["method", "code"], buckets=_LATENCY_BUCKETS_S, registry=r)

    def observe_call(self, method: str, code: str, seconds: float) -> None:
        self.inference_seconds.labels(method, code).observe(seconds)


def init_app(app: Flask) -> WebMetrics:
    metrics = app.extensions[EXTENSION] = WebMetrics()

    @app.before_request
    def start_clock():
        g.metrics_start = time.perf_counter()

    @app.after_request
    def count(response):
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
        method = request.method if request.method in METHODS else OTHER_METHOD
        metrics.requests.labels(route, method, str(response.status_code)).inc()
        start = g.pop("metrics_start", None)
        if start is not None:
            metrics.request_seconds.labels(route).observe(time.perf_counter() - start)
        if request.content_length:
            metrics.upload_bytes.labels(route).observe(request.content_length)
        return response

    return metrics


def get_metrics() -> WebMetrics:
    return current_app.extensions[EXTENSION]


# The gunicorn master's side (it sets PROMETHEUS_MULTIPROC_DIR before importing this module).

def serve_multiprocess(host: str, port: int):
    """Serves /metrics, summed over every worker process; returns prometheus_client's (server, thread)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return start_http_server(port, addr=host, registry=registry)


def worker_exited(pid: int) -> None:
    """A worker's live gauges (open WebSockets) stop counting when it is gone."""
    multiprocess.mark_process_dead(pid)
