"""The web tier's Prometheus metrics, scraped from a real `python -m web_client` (gunicorn, two
worker processes) in front of the real inference service."""

import base64
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import simple_websocket

from tests.conftest import WebServer, free_port, png_bytes
from tests.web.test_server import post_multipart


def scrape(url: str) -> dict[str, float]:
    """`name{labels}` -> value, labels sorted by name as prometheus_client writes them."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {m[0]: float(m[1]) for m in re.findall(r"^(maskscope_web_\S+) (\S+)$", text, flags=re.M)}


def wait_for(url: str, key: str, value: float, timeout_s: float = 10) -> dict[str, float]:
    end = time.monotonic() + timeout_s
    while True:
        samples = scrape(url)
        if samples.get(key) == value or time.monotonic() > end:
            return samples
        time.sleep(0.05)


@pytest.fixture(scope="module")
def web(server):
    port = free_port()
    process = WebServer(server.address, "--processes", "2", "--metrics-port", str(port))
    process.metrics_url = f"http://127.0.0.1:{port}/metrics"
    yield process
    process.stop()


def test_requests_uploads_websockets_and_inference_calls_are_counted(web, photo_png, photos):
    url, metrics = web.url, web.metrics_url
    assert "Metrics on http://127.0.0.1:" in web.log()
    for _ in range(3):
        assert urllib.request.urlopen(url + "api/health", timeout=10).status == 200
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url + "no/such/page", timeout=10)
    assert missing.value.code == 404
    with post_multipart(url + "api/classify", {"top_k": "3"}, {"image": photo_png["coffee"]}) as response:
        assert response.status == 200
    broken = b"\x89PNG\r\n\x1a\n" + b"not a photo at all"  # looks like a PNG: the service finds it is not
    with pytest.raises(urllib.error.HTTPError) as refused:
        post_multipart(url + "api/classify", {}, {"image": broken})
    assert refused.value.code == 400 and json.loads(refused.value.read())["code"] == "INVALID_ARGUMENT"

    ws = simple_websocket.Client.connect(url.replace("http://", "ws://") + "api/stream")
    try:
        open_now = wait_for(metrics, "maskscope_web_websockets_open", 1.0)
        assert open_now["maskscope_web_websockets_open"] == 1.0
        ws.send(json.dumps({"image": base64.b64encode(png_bytes(photos["chelsea"])).decode(), "sequence": 1}))
        answer = json.loads(ws.receive(timeout=30))
        assert answer["sequence"] == 1
        ws.send(json.dumps({"image_id": answer["image_id"], "sequence": 2}))
        assert json.loads(ws.receive(timeout=30))["sequence"] == 2
    finally:
        ws.close()
    samples = wait_for(metrics, "maskscope_web_websockets_open", 0.0)

    assert samples["maskscope_web_websockets_open"] == 0.0
    assert samples['maskscope_web_requests_total{method="GET",route="/api/health",status="200"}'] == 3
    assert samples['maskscope_web_requests_total{method="GET",route="(unmatched)",status="404"}'] == 1
    assert samples['maskscope_web_requests_total{method="POST",route="/api/classify",status="200"}'] == 1
    assert samples['maskscope_web_requests_total{method="POST",route="/api/classify",status="400"}'] == 1
    assert samples['maskscope_web_request_seconds_count{route="/api/health"}'] == 3
    # Both uploads, each its whole multipart body (the photo and a little framing).
    assert samples['maskscope_web_upload_bytes_count{route="/api/classify"}'] == 2
    uploaded = samples['maskscope_web_upload_bytes_sum{route="/api/classify"}']
    assert len(photo_png["coffee"]) + len(broken) < uploaded < len(photo_png["coffee"]) + 2000
    assert samples['maskscope_web_upload_bytes_bucket{le="1024.0",route="/api/classify"}'] == 1
    # The gRPC calls behind them, by method and code; the live answer timed on its own.
    assert samples['maskscope_web_inference_seconds_count{code="OK",method="Check"}'] == 3
    # A photo sent in live mode goes as a Classify call of its own (web_client/stream.py), a mask by
    # image_id down the page's ClassifyStream, its answer timed on its own.
    assert samples['maskscope_web_inference_seconds_count{code="OK",method="Classify"}'] == 2
    assert samples['maskscope_web_inference_seconds_count{code="INVALID_ARGUMENT",method="Classify"}'] == 1
    assert samples['maskscope_web_inference_seconds_count{code="OK",method="ClassifyStream"}'] == 1
    assert 0 < samples['maskscope_web_inference_seconds_sum{code="OK",method="Classify"}'] < 30


def test_the_metrics_are_not_on_the_pages_port(web):
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(web.url + "metrics", timeout=10)
    assert missing.value.code == 404


def test_the_master_imports_prometheus_client_only_after_setting_up_its_folder():
    """prometheus_client picks its multiprocess mode when first imported; had the master imported
    it before __main__ sets PROMETHEUS_MULTIPROC_DIR, every worker would count on its own."""
    code = ("import sys, web_client.__main__, web_client.study.store\n"
            "print('prometheus_client' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_an_app_without_gunicorn_keeps_its_own_counts(app, client, photo_png):
    """In one process (tests, `flask run`) the app's own registry holds the samples."""
    from web_client.metrics import get_metrics
    assert client.get("/api/models").status_code == 200
    with app.app_context():
        registry = get_metrics().registry
    assert registry.get_sample_value("maskscope_web_requests_total",
                                     {"route": "/api/models", "method": "GET", "status": "200"}) == 1
    assert registry.get_sample_value("maskscope_web_inference_seconds_count",
                                     {"method": "ListModels", "code": "OK"}) == 1
    assert registry.get_sample_value("maskscope_web_upload_bytes_count", {"route": "/api/models"}) is None


def test_made_up_methods_count_as_one_label(app, client):
    """gunicorn passes any method a client invents: each would otherwise be a new series."""
    from web_client.metrics import get_metrics
    for method in ("FOOA", "FOOB", "ZZZZ"):
        assert client.open("/api/models", method=method).status_code == 405
    with app.app_context():
        registry = get_metrics().registry
    assert registry.get_sample_value("maskscope_web_requests_total",
                                     {"route": "(unmatched)", "method": "(other)", "status": "405"}) == 3
    methods = {s.labels["method"] for m in registry.collect() if m.name == "maskscope_web_requests" for s in m.samples}
    assert methods == {"(other)"}
