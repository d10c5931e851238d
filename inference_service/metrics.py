"""Prometheus metrics for the inference service, on their own registry (one per server)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("maskscope_requests", "Classify, ClassifyStream and Explain requests answered, by model and gRPC status code",
                                ["model", "code"], registry=r)
        self.preprocess_seconds = Histogram("maskscope_preprocess_seconds", "Decoding, masking and resizing, per request",
                                            ["model"], buckets=_LATENCY_BUCKETS_S, registry=r)
        self.queue_seconds = Histogram("maskscope_queue_seconds", "Time waiting for a batch to run, per request",
                                       ["model"], buckets=_LATENCY_BUCKETS_S, registry=r)
        self.inference_seconds = Histogram("maskscope_inference_seconds", "Model run time, per batch",
                                           ["model"], buckets=_LATENCY_BUCKETS_S, registry=r)
        self.batch_size = Histogram("maskscope_batch_size", "Requests per model run", ["model"],
                                    buckets=_BATCH_BUCKETS, registry=r)
        self.queue_depth = Gauge("maskscope_queue_depth", "Requests waiting for a batch", ["model"], registry=r)
        self.cached_images = Gauge("maskscope_image_cache_images", "Decoded images in the cache", registry=r)
        self.cached_bytes = Gauge("maskscope_image_cache_bytes", "Memory budgeted to cached images", registry=r)

    def serve(self, host: str, port: int):
        """Serves /metrics over HTTP; returns the (server, thread) of prometheus_client."""
        return start_http_server(port, addr=host, registry=self.registry)
