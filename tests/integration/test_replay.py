"""A saved session replays to the same answers on the same model; the CLI's explain writes a map."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from maskscope import session as sessions
from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc
from tests.conftest import ROOT, png_bytes, sample_arrays
from tests.integration.test_classify import CUP, rect_mask


def as_dicts(predictions):
    return [{"class_index": p.class_index, "label": p.label, "probability": p.probability} for p in predictions]


@pytest.fixture
def recorded(channel, photo_png, photos):
    """A session as the page records it: the photo, then everything but the cup hidden, then the cup too."""
    stub = pb_grpc.ClassifierStub(channel)
    everything_but_cup = np.full((*photos["coffee"].shape[:2], 4), 255, np.uint8)
    everything_but_cup[CUP] = 0
    masks = [b"", png_bytes(everything_but_cup), rect_mask(photos["coffee"].shape, (slice(0, 400), slice(0, 600)))]
    steps, image_id = [], ""
    for i, mask in enumerate(masks):
        request = pb.ClassifyRequest(mask=mask, track=[967])
        if image_id:
            request.image_id = image_id
        else:
            request.image = photo_png["coffee"]
        response = stub.Classify(request, timeout=30)
        image_id = response.image_id
        steps.append(sessions.Step(f"step {i}", mask, as_dicts(response.predictions), as_dicts(response.tracked)))
    return sessions.Session(image=photo_png["coffee"], image_name="coffee.png", model=response.model, fill="gray",
                            keep_painted=False, steps=steps, pinned=[967])


def run_client(*args):
    return subprocess.run([sys.executable, "-m", "inference_service.client", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_replaying_a_session_reproduces_its_results(server, recorded, tmp_path):
    path, out, report = tmp_path / "session.json", tmp_path / "replayed.json", tmp_path / "report.html"
    path.write_text(recorded.to_json())
    result = run_client("replay", path, "--addr", server.address, "--json", out, "--report", report)
    assert result.returncode == 0, result.stderr
    replayed = sessions.parse(out.read_text())
    assert len(replayed.steps) == 3 and replayed.model == recorded.model
    for a, b in zip(recorded.steps, replayed.steps):
        assert [p["class_index"] for p in a.predictions] == [p["class_index"] for p in b.predictions]
        np.testing.assert_allclose([p["probability"] for p in a.predictions],
                                   [p["probability"] for p in b.predictions], atol=1e-5)
        assert b.tracked[0]["class_index"] == 967
    assert recorded.steps[0].predictions[0]["label"] == "espresso"
    assert recorded.steps[2].tracked[0]["probability"] < 0.05  # everything hidden: the espresso is gone
    assert "espresso" in result.stdout and report.read_text().count("<tr><td class=step>") == 3


def test_replay_against_an_unknown_model_or_a_bad_file_fails_clearly(server, recorded, tmp_path):
    path = tmp_path / "session.json"
    path.write_text(recorded.to_json())
    result = run_client("replay", path, "--addr", server.address, "--model", "nope")
    assert result.returncode == 1 and "NOT_FOUND" in result.stderr and "unknown model 'nope'" in result.stderr
    path.write_text(json.dumps({"format": "maskscope-session", "version": 7}))
    result = run_client("replay", path, "--addr", server.address)
    assert result.returncode == 2 and "session version 7" in result.stderr


def test_cli_explain_writes_a_map(server, tmp_path):
    image = tmp_path / "coffee.png"
    Image.fromarray(sample_arrays()["coffee"]).save(image)
    out = tmp_path / "map.png"
    result = run_client("explain", image, "--addr", server.address, "--patch", "56", "--stride", "56", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "espresso (967)" in result.stdout and "16 copies" in result.stdout
    assert Image.open(out).size == (350, 350)  # the centre crop the model sees
