"""Load: 64 concurrent clients x 50 requests, every answer exact; memory flat over 5,000 requests."""

import concurrent.futures
import json
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc
from tests.conftest import ARTIFACTS, ServerProcess, png_bytes

CLIENTS, REQUESTS_EACH, MEMORY_REQUESTS = 64, 50, 5000
FILLS = [pb.FILL_GRAY, pb.FILL_BLACK, pb.FILL_BLUR, pb.FILL_NOISE]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def record(name: str, figures: dict) -> None:
    folder = ARTIFACTS / "reliability"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")


@pytest.fixture(scope="module")
def inputs(photos, photo_png):
    """40 different (photo, mask, fill) interactions: 5 real photos x 8 masks."""
    rng = np.random.default_rng(7)
    cases = []
    for name, rgb in photos.items():
        h, w = rgb.shape[:2]
        for k in range(8):
            mask = np.zeros((h, w, 4), np.uint8)
            for _ in range(1 + k % 3):
                y, x = rng.integers(0, h * 3 // 4), rng.integers(0, w * 3 // 4)
                mask[y: y + h // 3, x: x + w // 3, 3] = 255
            cases.append({"photo": name, "image": photo_png[name], "mask": png_bytes(mask) if k else b"",
                          "fill": FILLS[k % 4], "keep_painted": k == 7})
    return cases


@pytest.fixture(scope="module")
def load_server(model_dir):
    server = ServerProcess(model_dir)
    yield server
    server.stop()


def request_for(case, image_id=None, sequence=0):
    fields = dict(mask=case["mask"], fill=case["fill"], keep_painted=case["keep_painted"], sequence=sequence)
    return pb.ClassifyRequest(image_id=image_id, **fields) if image_id else pb.ClassifyRequest(image=case["image"], **fields)


def test_64_clients_each_get_exactly_their_own_answers_and_memory_stays_flat(load_server, inputs):
    with grpc.insecure_channel(load_server.address) as channel:
        stub = pb_grpc.ClassifierStub(channel)
        alone = [stub.Classify(request_for(case), timeout=30) for case in inputs]

    def client(index):
        answers, errors, image_ids = [], [], {}
        with grpc.insecure_channel(load_server.address, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
            stub = pb_grpc.ClassifierStub(ch)
            for j in range(REQUESTS_EACH):
                k = (index * 7 + j * 3) % len(inputs)
                case = inputs[k]
                sequence = index * 1000 + j
                try:  # the photo once per client, then image_id + mask, as a painting session does
                    response = stub.Classify(request_for(case, image_ids.get(case["photo"]), sequence), timeout=120)
                    image_ids[case["photo"]] = response.image_id
                    answers.append((k, sequence, response))
                except grpc.RpcError as error:
                    errors.append(error.code().name)
        return answers, errors

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        outcomes = list(pool.map(client, range(CLIENTS)))
    elapsed = time.monotonic() - started

    answers = [a for answered, _ in outcomes for a in answered]
    errors = [e for _, failed in outcomes for e in failed]
    mismatches = 0
    for k, sequence, response in answers:
        reference = alone[k]
        same = (response.sequence == sequence
                and [p.class_index for p in response.predictions] == [p.class_index for p in reference.predictions]
                and np.allclose([p.probability for p in response.predictions],
                                [p.probability for p in reference.predictions], atol=1e-4))
        mismatches += not same
    batch_sizes = [response.timings.batch_size for _, _, response in answers]
    sent = CLIENTS * REQUESTS_EACH
    figures = {"clients": CLIENTS, "sent": sent, "answered": len(answers), "errors": errors,
               "lost": sent - len(answers) - len(errors), "mismatched": mismatches,
               "seconds": round(elapsed, 1), "requests_per_s": round(sent / elapsed, 1),
               "largest_batch": max(batch_sizes), "mean_batch": round(float(np.mean(batch_sizes)), 2)}

    # Memory: 5,000 more requests (warm by now) must not grow the server.
    before = rss_mb(load_server.process.pid)
    with grpc.insecure_channel(load_server.address) as channel:
        stub = pb_grpc.ClassifierStub(channel)
        ids = {case["photo"]: stub.Classify(request_for(case), timeout=30).image_id for case in inputs[::8]}

        def burst(worker):
            for j in range(worker, MEMORY_REQUESTS, 16):
                case = inputs[j % len(inputs)]
                stub.Classify(request_for(case, ids[case["photo"]]), timeout=60)

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(burst, range(16)))
    after = rss_mb(load_server.process.pid)
    figures.update({"memory_requests": MEMORY_REQUESTS, "rss_before_mb": round(before, 1),
                    "rss_after_mb": round(after, 1)})
    record("load", figures)

    assert figures["answered"] == sent and not errors and figures["lost"] == 0, figures
    assert mismatches == 0, figures
    assert figures["largest_batch"] > 1, figures
    assert after - before < 50, f"RSS grew from {before:.0f} MB to {after:.0f} MB over {MEMORY_REQUESTS} requests"
