"""The Prometheus endpoint of a real server: requests by code, batches, queue, cache."""

import re
import urllib.request

import grpc
import pytest

from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc
from tests.conftest import ServerProcess, free_port



def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


def test_metrics_count_what_happened(model_dir, photo_png):
    port = free_port()
    server = ServerProcess(model_dir, "--metrics-port", str(port))
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = pb_grpc.ClassifierStub(channel)
            for name in ("coffee", "chelsea", "rocket"):
                stub.Classify(pb.ClassifyRequest(image=photo_png[name]), timeout=30)
            for model in ("nope", "nope-either"):
                with pytest.raises(grpc.RpcError):
                    stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"], model=model), timeout=30)
            with pytest.raises(grpc.RpcError):
                stub.Classify(pb.ClassifyRequest(image=b"not an image"), timeout=30)
        samples = scrape(port)
    finally:
        server.stop()
    model = 'model="efficientnet-lite0"'
    assert samples[f'maskscope_requests_total{{code="OK",{model}}}'] == 3
    assert samples[f'maskscope_requests_total{{code="INVALID_ARGUMENT",{model}}}'] == 1
    assert samples['maskscope_requests_total{code="NOT_FOUND",model="(unknown)"}'] == 2
    assert samples[f"maskscope_batch_size_count{{{model}}}"] >= 1
    assert samples[f"maskscope_batch_size_sum{{{model}}}"] == 3
    assert samples[f"maskscope_queue_seconds_count{{{model}}}"] == 3
    assert samples[f"maskscope_inference_seconds_count{{{model}}}"] >= 1
    assert samples[f"maskscope_queue_depth{{{model}}}"] == 0
    assert samples["maskscope_image_cache_images"] == 3
