"""Starting and stopping the real server: health, env twins, graceful SIGTERM."""

import signal
import time

import grpc
import pytest

from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc
from tests.conftest import ServerProcess


def queue_work(stub, photo: bytes, count: int) -> list:
    """`count` requests in flight at once (the photo once, then by image_id: small messages)."""
    image_id = stub.Classify(pb.ClassifyRequest(image=photo), timeout=30).image_id
    return [stub.Classify.future(pb.ClassifyRequest(image_id=image_id, sequence=i), timeout=60) for i in range(count)]


def outcome(future):
    try:
        return future.result().sequence
    except grpc.RpcError as error:
        return error.code()


SLOW = ["--max-batch-size", "1", "--concurrent-batches", "1", "--max-queue-size", "5000"]


@pytest.fixture
def busy_server(model_dir, photo_png):
    """busy_server(grace_s, queued): a server running one request per model run, `queued` requests in
    flight on it; yields (server, stub, futures) and closes the channel afterwards."""
    channels = []

    def start(grace_s: float, queued: int):
        server = ServerProcess(model_dir, "--grace-period-s", str(grace_s), *SLOW)
        channel = grpc.insecure_channel(server.address)
        channels.append(channel)
        stub = pb_grpc.ClassifierStub(channel)
        in_flight = queue_work(stub, photo_png["rocket"], queued)
        time.sleep(0.2)
        return server, stub, in_flight

    yield start
    for channel in channels:
        channel.close()


def test_sigterm_finishes_in_flight_work_then_exits(busy_server, photo_png):
    # 300 queued requests keep the server busy for a second or more.
    server, stub, in_flight = busy_server(grace_s=30, queued=300)
    server.process.send_signal(signal.SIGTERM)
    server.wait_until_refusing()
    with pytest.raises(grpc.RpcError) as refused:  # new work is refused while the old finishes
        stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"]), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not all(f.done() for f in in_flight), "some requests should still have been in flight"
    assert [outcome(f) for f in in_flight] == list(range(300)), "every in-flight request is answered"
    assert server.process.wait(30) == 0
    assert "stopped" in server.log()


def test_sigterm_exits_within_the_grace_period_even_if_work_is_stuck(busy_server):
    # Far more queued work than a 2 s grace period can finish.
    server, _, in_flight = busy_server(grace_s=2, queued=2000)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(15) == 0
    stopped_after = time.monotonic() - started
    outcomes = [outcome(f) for f in in_flight]
    assert stopped_after < 2 + 3, f"took {stopped_after:.1f} s to stop with a 2 s grace period"
    unfinished = [o for o in outcomes if not isinstance(o, int)]
    assert unfinished and set(unfinished) <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}, set(unfinished)
