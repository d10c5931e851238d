"""`--workers N`: front-end processes on one port feeding one model process, for real."""

import os
import re
import signal
import time
import urllib.request

import grpc
import pytest

from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc
from tests.conftest import ServerProcess, free_port


def own_connection(address: str) -> grpc.Channel:
    """A channel with a connection of its own (gRPC otherwise shares one among a process's channels)."""
    return grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


@pytest.fixture(scope="module")
def metrics_port():
    return free_port()


@pytest.fixture(scope="module")
def workers_server(model_dir, metrics_port):
    server = ServerProcess(model_dir, "--workers", "2", "--metrics-port", str(metrics_port))
    yield server
    server.stop()


def frontend_pids(server) -> list[int]:
    return [int(pid) for pid in os.popen(f"pgrep -P {server.process.pid}").read().split()]


def test_two_front_ends_each_keep_their_own_photos_and_never_answer_for_another(workers_server, photo_png):
    """Connections spread over the front-ends; a photo lives in the cache of the one that got it.
    By image_id, another front-end answers NOT_FOUND (send the photo again), never a wrong image."""
    assert len(frontend_pids(workers_server)) == 2
    with own_connection(workers_server.address) as channel:
        first = pb_grpc.ClassifierStub(channel).Classify(pb.ClassifyRequest(image=photo_png["coffee"]), timeout=30)
    assert first.predictions[0].label == "espresso"
    answers, channels = [], [own_connection(workers_server.address) for _ in range(16)]
    try:
        for channel in channels:
            try:
                answers.append(pb_grpc.ClassifierStub(channel).Classify(
                    pb.ClassifyRequest(image_id=first.image_id), timeout=30))
            except grpc.RpcError as error:
                answers.append(error.code())
    finally:
        for channel in channels:
            channel.close()
    found = [a for a in answers if not isinstance(a, grpc.StatusCode)]
    refused = {a for a in answers if isinstance(a, grpc.StatusCode)}
    assert refused == {grpc.StatusCode.NOT_FOUND}, "reached the other front-end too"
    assert found, "reached the photo's own front-end too"
    for answer in found:
        assert answer.predictions == first.predictions and answer.image_id == first.image_id


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$", text, re.M)}


def test_one_metrics_endpoint_counts_every_front_ends_requests(workers_server, metrics_port, photo_png):
    ok = 'maskscope_requests_total{code="OK",model="efficientnet-lite0"}'
    before = scrape(metrics_port)
    channels = [own_connection(workers_server.address) for _ in range(8)]
    try:
        for channel in channels:
            pb_grpc.ClassifierStub(channel).Classify(pb.ClassifyRequest(image=photo_png["chelsea"]), timeout=30)
    finally:
        for channel in channels:
            channel.close()
    after = scrape(metrics_port)
    assert after[ok] - before.get(ok, 0) == 8
    batches = 'maskscope_batch_size_count{model="efficientnet-lite0"}'
    assert after[batches] - before.get(batches, 0) >= 1, "the model process's own metrics are there too"
    assert after["maskscope_image_cache_images"] >= 2, "both front-ends hold the photo by now"


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def kill_a_front_end(server) -> None:
    victim = frontend_pids(server)[0]
    restarts = server.log().count("starting it again")
    os.kill(victim, signal.SIGKILL)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        pids = frontend_pids(server)
        if len(pids) == 2 and victim not in pids and server.log().count("starting it again") > restarts:
            time.sleep(3)  # the new one serving
            return
        time.sleep(0.2)
    pytest.fail(f"no new front-end:\n{server.log()}")


def test_a_front_end_that_dies_is_started_again_and_leaves_nothing_behind(workers_server, photo_png):
    kill_a_front_end(workers_server)
    fds = open_fds(workers_server.process.pid)
    for _ in range(2):
        kill_a_front_end(workers_server)
    assert open_fds(workers_server.process.pid) <= fds + 1, "each link's socket and memory go with its front-end"
    for _ in range(8):
        with own_connection(workers_server.address) as channel:
            answer = pb_grpc.ClassifierStub(channel).Classify(pb.ClassifyRequest(image=photo_png["rocket"]), timeout=30)
            assert answer.predictions


def test_sigterm_lets_every_front_end_finish_its_in_flight_requests(model_dir, photo_png):
    server = ServerProcess(model_dir, "--workers", "2", "--grace-period-s", "30", "--max-batch-size", "1",
                           "--concurrent-batches", "1", "--max-queue-size", "5000")
    channels = [own_connection(server.address) for _ in range(4)]
    try:
        in_flight = []
        stubs = [pb_grpc.ClassifierStub(channel) for channel in channels]
        # Every photo first, then every request at once: sent while uploads still came in, the
        # first channels' requests were often all answered before the stop.
        ids = [stub.Classify(pb.ClassifyRequest(image=photo_png["rocket"]), timeout=30).image_id for stub in stubs]
        for k, (stub, image_id) in enumerate(zip(stubs, ids)):
            in_flight += [(stub.Classify.future(pb.ClassifyRequest(image_id=image_id, sequence=i), timeout=60), i)
                          for i in range(k * 1000, k * 1000 + 150)]
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert not all(f.done() for f, _ in in_flight), "some requests should still have been in flight"
        server.wait_until_refusing(processes=2)
        with pytest.raises(grpc.RpcError) as refused:  # new work is refused while the old finishes
            pb_grpc.ClassifierStub(channels[0]).Classify(pb.ClassifyRequest(image=photo_png["coffee"]), timeout=5)
        # Refused either way: UNAVAILABLE, or CANCELLED when it reached a front-end as it stopped
        # (gRPC cancels calls not yet handed to a handler when a server stops: docs/reliability.md).
        assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        assert [f.result().sequence for f, _ in in_flight] == [i for _, i in in_flight]
        assert server.process.wait(60) == 0
        assert not frontend_pids(server) and "stopped" in server.log()
    finally:
        for channel in channels:
            channel.close()
        server.stop()


def test_a_port_in_use_is_a_clear_error(model_dir, workers_server, tmp_path):
    from maskscope.processes import start_logged, stop_process
    log = tmp_path / "second.log"
    process = start_logged(["-m", "inference_service", "--workers", "2", "--model-dir", str(model_dir),
                            "--port", str(workers_server.port)], log)
    try:
        assert process.wait(120) != 0
    finally:
        stop_process(process)
    assert "could not bind" in log.read_text()


def test_the_web_apps_channels_keep_each_photos_calls_on_its_front_end(workers_server, photo_png):
    """The web app opens several connections and sends every call about a photo over the one its
    id picks: painting by image_id never meets NOT_FOUND, however the connections spread."""
    from web_client.inference import Inference
    inference = Inference(workers_server.address, channels=8)
    try:
        ids = {}
        for name, data in photo_png.items():
            request = pb.ClassifyRequest(image=data)
            ids[name] = inference.for_photo(request).Classify(request, timeout=30).image_id
        for _ in range(3):
            for name, image_id in ids.items():
                request = pb.ClassifyRequest(image_id=image_id)
                assert inference.for_photo(request).Classify(request, timeout=30).image_id == image_id
    finally:
        inference.close()
