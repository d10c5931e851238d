"""Starting and stopping the real server: health, env twins, graceful SIGTERM."""

import signal
import threading
import time

import grpc
import pytest

from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc
from tests.conftest import ServerProcess


def test_sigterm_finishes_in_flight_work_then_exits(model_dir, photo_png):
    # A long batch delay keeps a request in flight while SIGTERM arrives.
    server = ServerProcess(model_dir, "--grace-period-s", "20", env={"MASKSCOPE_MAX_DELAY_MS": "1500",
                                                                      "MASKSCOPE_MAX_BATCH_SIZE": "64"})
    result = {}
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ClassifierStub(channel)

        def call():
            result["response"] = stub.Classify(pb.ClassifyRequest(image=photo_png["rocket"]), timeout=30)

        worker = threading.Thread(target=call)
        worker.start()
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        with pytest.raises(grpc.RpcError) as refused:  # new work is refused while the old finishes
            stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"]), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert worker.is_alive(), "the in-flight request should still be waiting for its batch"
        worker.join(30)
    assert result["response"].predictions, "the in-flight request must be answered"
    assert server.process.wait(30) == 0
    assert "stopped" in server.log()


def test_sigterm_exits_within_the_grace_period_even_if_work_is_stuck(model_dir, photo_png):
    # A batch delay far beyond the grace period: the queued request cannot finish in time.
    server = ServerProcess(model_dir, "--grace-period-s", "2", env={"MASKSCOPE_MAX_DELAY_MS": "120000",
                                                                     "MASKSCOPE_MAX_BATCH_SIZE": "64"})
    errors = []
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ClassifierStub(channel)

        def call():
            try:
                stub.Classify(pb.ClassifyRequest(image=photo_png["rocket"]), timeout=60)
            except grpc.RpcError as error:
                errors.append(error.code())

        worker = threading.Thread(target=call)
        worker.start()
        time.sleep(0.5)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(15) == 0
        stopped_after = time.monotonic() - started
        worker.join(10)
    assert stopped_after < 2 + 3, f"took {stopped_after:.1f} s to stop with a 2 s grace period"
    assert errors and errors[0] in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), errors
