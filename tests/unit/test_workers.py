"""The model process's pure pieces: one /metrics summed over processes, the reserved port."""

import socket

import pytest

from inference_service.frontdoor.workers import merge_expositions, reserve_port

FRONT_END = """# HELP maskscope_requests_total Requests
# TYPE maskscope_requests_total counter
maskscope_requests_total{code="OK",model="m"} 3.0
maskscope_requests_created{code="OK",model="m"} 1.7e9
# HELP maskscope_queue_seconds Queue
# TYPE maskscope_queue_seconds histogram
maskscope_queue_seconds_bucket{le="0.01",model="m"} 2.0
maskscope_queue_seconds_bucket{le="+Inf",model="m"} 3.0
maskscope_queue_seconds_count{model="m"} 3.0
maskscope_queue_seconds_sum{model="m"} 0.02
# HELP maskscope_image_cache_images Images
# TYPE maskscope_image_cache_images gauge
maskscope_image_cache_images 4.0
"""


def test_every_sample_is_summed_over_the_processes_and_creation_times_left_out():
    merged = {family.name: family for family in merge_expositions([FRONT_END, FRONT_END.replace("3.0", "5.0")])}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in merged.values() for s in f.samples}
    assert samples[("maskscope_requests_total", (("code", "OK"), ("model", "m")))] == 8.0
    assert samples[("maskscope_queue_seconds_count", (("model", "m"),))] == 8.0
    assert samples[("maskscope_queue_seconds_bucket", (("le", "0.01"), ("model", "m")))] == 4.0
    assert samples[("maskscope_image_cache_images", ())] == 8.0
    assert not any(name.endswith("_created") for name, _ in samples)
    assert merged["maskscope_queue_seconds"].type == "histogram"


def test_a_port_another_server_holds_is_refused_rather_than_shared():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SystemExit, match="could not bind 127.0.0.1"):
            reserve_port("127.0.0.1", taken.getsockname()[1])
    sock, port = reserve_port("127.0.0.1", 0)
    try:
        assert port > 0 and sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
    finally:
        sock.close()
