"""Classifiers that are not ImageNet's, imported with `export onnx`, served beside Lite0 by the real
server: their labels, their input size, a fixed batch served one image per run, Explain, replay
and the experiments."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from inference_service.pipeline.preprocess import source_crop_box
from inference_service.runtimes.metadata import ModelMetadata
from maskscope import session as sessions
from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc
from tests.classifiers import IMPORTED, LABELS, SIZE
from tests.conftest import ROOT, ServerProcess, png_bytes


@pytest.fixture(scope="module")
def served(imported_model_dir):
    server = ServerProcess(imported_model_dir)
    yield server
    server.stop()


@pytest.fixture
def stub(served):
    with served.channel() as channel:
        yield pb_grpc.ClassifierStub(channel)


def red_left(photo_shape):
    """A mask over the left half of a photo."""
    mask = np.zeros((*photo_shape[:2], 4), np.uint8)
    mask[:, : photo_shape[1] // 2] = 255
    return png_bytes(mask)


def test_list_models_tells_labels_batching_and_label_set(stub):
    models = {m.name: m for m in stub.ListModels(pb.ListModelsRequest(), timeout=10).models}
    assert set(models) == {"efficientnet-lite0", *IMPORTED}
    assert models["efficientnet-lite0"].label_set == "imagenet-1k" and models["efficientnet-lite0"].max_batch_size == 0
    for name in IMPORTED:
        m = models[name]
        assert list(m.labels) == list(LABELS) and m.num_labels == 3 and m.input_size == SIZE and m.label_set == ""
        assert m.pretrained and "imported from" in m.provenance
    assert [models[n].max_batch_size for n in IMPORTED] == [0, 0, 1]


@pytest.mark.parametrize("name", sorted(IMPORTED))
def test_an_imported_model_classifies_with_its_own_labels(stub, photo_png, photos, name):
    first = stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"], model=name), timeout=30)
    assert first.model == name and len(first.predictions) == 3  # top_k 0: five, or every class if fewer
    assert {p.label for p in first.predictions} == set(LABELS)
    assert sum(p.probability for p in first.predictions) == pytest.approx(1, abs=1e-4)
    masked = stub.Classify(pb.ClassifyRequest(image_id=first.image_id, model=name, mask=red_left(photos["coffee"].shape),
                                              track=[1]), timeout=30)
    before = {p.class_index: p.probability for p in first.predictions}
    assert masked.tracked[0].label == "malignant" and masked.tracked[0].probability != pytest.approx(before[1], abs=1e-6)
    with pytest.raises(grpc.RpcError) as error:
        stub.Classify(pb.ClassifyRequest(image_id=first.image_id, model=name, top_k=4), timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "between 1 and 3" in error.value.details()


def test_the_same_graph_answers_alike_batched_or_one_at_a_time(stub, photo_png):
    answers = {name: stub.Classify(pb.ClassifyRequest(image=photo_png["rocket"], model=name), timeout=30)
               for name in IMPORTED}
    probabilities = [[p.probability for p in sorted(a.predictions, key=lambda p: p.class_index)] for a in answers.values()]
    np.testing.assert_allclose(probabilities[0], probabilities[1], atol=1e-5)
    np.testing.assert_allclose(probabilities[0], probabilities[2], atol=1e-5)


def test_a_fixed_batch_runs_one_image_at_a_time_under_load(stub, photo_png):
    image_id = stub.Classify(pb.ClassifyRequest(image=photo_png["chelsea"], model="lesions-baked"), timeout=30).image_id

    def one(i):
        mask = np.zeros((300, 451, 4), np.uint8)
        mask[: i + 1] = 255
        return stub.Classify(pb.ClassifyRequest(image_id=image_id, model="lesions-baked", mask=png_bytes(mask)), timeout=60)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(48)))
    assert all(len(a.predictions) == 3 for a in answers)
    assert {a.timings.batch_size for a in answers} == {1}


def test_explain_fits_the_models_input(stub, photo_png, imported_model_dir):
    maps = [r for r in stub.Explain(pb.ExplainRequest(image=photo_png["coffee"], model="lesions"), timeout=60)]
    m = maps[-1].map
    # The default patch is an eighth of the input (12 px at 96), the stride half of it: 96 / 6 cells a side.
    assert (m.rows, m.cols) == (16, 16) and len(m.drop) == 256
    # The crop is the model's own: 96 of a 110 px resize, not Lite0's 224 of 256.
    expected = source_crop_box(600, 400, ModelMetadata.load(imported_model_dir / "lesions").preprocessing)
    assert m.label in LABELS
    assert (m.crop_left, m.crop_top, m.crop_right, m.crop_bottom) == pytest.approx(expected, abs=1)


def test_a_session_replays_on_an_imported_model(served, stub, photo_png, tmp_path):
    first = stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"]), timeout=30)
    session = sessions.Session(
        image=photo_png["coffee"], image_name="coffee.png", model=first.model, fill="gray", keep_painted=False,
        steps=[sessions.Step("photo", b"", [{"class_index": p.class_index, "label": p.label, "probability": p.probability}
                                            for p in first.predictions], [])], pinned=[])
    path, out = tmp_path / "session.json", tmp_path / "replayed.json"
    path.write_text(session.to_json())
    result = subprocess.run([sys.executable, "-m", "inference_service.client", "replay", str(path), "--addr",
                             served.address, "--model", "lesions", "--json", str(out)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    replayed = sessions.parse(out.read_text())
    assert replayed.model == "lesions" and replayed.steps[0].predictions[0]["label"] in LABELS


def test_the_experiments_run_on_an_imported_model(imported_model_dir, tmp_path):
    out = tmp_path / "experiments.md"
    result = subprocess.run([sys.executable, "-m", "experiments", "--model-dir", str(imported_model_dir), "--model",
                             "lesions-baked", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ") and "![](" in line]
    assert len(rows) == 7 and all(any(f"**{label}**" in row for label in LABELS) for row in rows)


def test_the_python_client_explores_an_imported_model(served, photos):
    from maskscope import Client
    photo = photos["coffee"]  # a numpy array, as in a notebook
    with Client(served.address) as client:
        info = {m.name: m for m in client.models()}["lesions-baked"]
        assert info.labels == LABELS and info.max_batch_size == 1 and info.label_set == ""
        first = client.classify(photo, model="lesions-baked")
        assert first.top.label in LABELS and first.probability("malignant") > 0
        left = np.zeros(photo.shape[:2], bool)
        left[:, :300] = True
        hidden = client.classify(photo, mask=left, model="lesions-baked", track=["malignant"])
        assert hidden.image_id == first.image_id
        assert hidden.probability("malignant") != pytest.approx(first.probability("malignant"), abs=1e-6)
        explanation = client.explain(photo, model="lesions-baked", class_index="malignant")
        assert explanation.drop.shape == (16, 16) and explanation.label == "malignant"
        assert "malignant" in explanation._repr_html_()
        session = client.session(photo, model="lesions-baked")
        session.classify()
        session.hide_box(0, 0, 300, 400).classify()
        assert session.history[-1].probability("malignant") == pytest.approx(hidden.probability("malignant"), abs=1e-5)
