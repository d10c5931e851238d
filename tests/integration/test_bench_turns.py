"""The benchmark's one-client latency turns, against a real server and the real model."""

import pytest

from bench.load import OneClient
from bench.raw import Batch1
from tests.conftest import ServerProcess


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return tmp_path_factory.mktemp("samples")  # load_workload extracts the sample photos into it


def test_one_client_paints_on_its_photo_and_times_each_answer(server, samples):
    client = OneClient(server.address, samples)
    try:
        first, errors = client.latencies_ms(0.5)
        again, _ = client.latencies_ms(0.3)
    finally:
        client.close()
    assert errors == 0 and len(first) >= 5 and len(again) >= 3
    assert all(0 < ms < 2000 for ms in first + again)
    assert len(client._requests) == 24  # every mask of the stroke, each sent in turn
    assert client._sent == len(first) + len(again)


def test_failed_requests_are_counted_not_timed(model_dir, samples):
    server = ServerProcess(model_dir)
    client = OneClient(server.address, samples)
    try:
        server.stop()
        latencies, errors = client.latencies_ms(0.3)
    finally:
        client.close()
    assert latencies == [] and errors >= 1


def test_batch1_times_one_run_at_a_time(model_dir):
    runs = Batch1(model_dir / "efficientnet-lite0")
    latencies = runs.latencies_ms(0.3)
    assert runs.feed[next(iter(runs.feed))].shape[0] == 1
    assert len(latencies) >= 3 and all(0 < ms < 2000 for ms in latencies)
