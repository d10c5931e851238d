"""Importing ONNX classifiers: what is accepted (and how its batch axis is served), and a message
of its own for each thing that cannot be served."""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from inference_service.export import main as export_main
from inference_service.runtimes.metadata import ModelMetadata, sha256_file
from inference_service.runtimes.models import OnnxModel, RuntimeOptions
from inference_service.tools.onnx_import import ImportRefused, import_onnx, read_labels
from inference_service.tools.triton import config_text
from tests.classifiers import LABELS, SIZE, export_onnx, tiny_classifier, write_labels


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    return {"labels": write_labels(d / "labels.txt"),
            "dynamic": export_onnx(tiny_classifier(), d / "dynamic.onnx", dynamic_batch=True),
            "fixed": export_onnx(tiny_classifier(), d / "fixed.onnx", dynamic_batch=False),
            "baked": export_onnx(tiny_classifier(baked_batch=True), d / "baked.onnx", dynamic_batch=False),
            # A batch axis named free over a graph that runs one image only (reshape(1, -1) inside).
            "dynamic-baked": export_onnx(tiny_classifier(baked_batch=True), d / "dynamic-baked.onnx", dynamic_batch=True)}


def graph(path, inputs, outputs, nodes=None):
    """A model of Identity/Flatten nodes with the given inputs and outputs (name, elem type, shape)."""
    ins = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs]
    outs = [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs]
    nodes = nodes or [helper.make_node("Identity", [inputs[0][0]], [o[0]]) for o in outputs]
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", ins, outs), opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
              str(path))
    return path


def expect_refusal(tmp_path, model, match, labels=None, **kwargs):
    with pytest.raises(ImportRefused, match=match):
        import_onnx(model, labels or write_labels(tmp_path / "l.txt"), "m", tmp_path / "models", **kwargs)
    assert not (tmp_path / "models" / "m" / "model.onnx").exists(), "a refused import writes no model"


@pytest.mark.parametrize("kind, batch_axis, max_batch", [("dynamic", "dynamic", 0), ("fixed", "made dynamic", 0),
                                                         ("baked", "fixed at 1", 1),
                                                         ("dynamic-baked", "runs one image only", 1)])
def test_imports_each_batch_axis(files, tmp_path, kind, batch_axis, max_batch):
    folder = import_onnx(files[kind], files["labels"], kind, tmp_path)
    meta = ModelMetadata.load(folder)
    assert meta.labels == LABELS and meta.input_size == SIZE and meta.label_set == ""
    assert (meta.input_name, meta.output_name) == ("pixels", "scores")
    assert meta.max_batch_size == max_batch and meta.extra["batch_axis"] == batch_axis
    assert meta.sha256 == sha256_file(folder / "model.onnx") and meta.extra["source_sha256"] == sha256_file(files[kind])
    assert meta.preprocessing.crop == SIZE and meta.preprocessing.resize == round(SIZE * 256 / 224)
    model = OnnxModel(folder, RuntimeOptions(device="cpu"), max_batch_size=16)
    assert model.max_batch_size == (1 if max_batch else 16)
    x = np.random.default_rng(1).standard_normal((1, 3, SIZE, SIZE)).astype(np.float32)
    assert model.run(x).shape == (1, 3)
    if not max_batch:  # a batch of two answers as the two apart
        two = np.concatenate([x, -x])
        assert np.allclose(model.run(two), np.concatenate([model.run(x), model.run(-x)]), atol=1e-5)


def test_a_fixed_batch_is_one_image_per_run_in_triton_too(files, tmp_path):
    meta = ModelMetadata.load(import_onnx(files["baked"], files["labels"], "baked", tmp_path))
    config = config_text(meta, 16, 2000, gpu=False)
    assert "max_batch_size: 0" in config and "dynamic_batching" not in config
    assert f"dims: [ 1, 3, {SIZE}, {SIZE} ]" in config and "dims: [ 1, 3 ]" in config


def test_preprocessing_and_output_flags_are_kept(files, tmp_path):
    folder = import_onnx(files["dynamic"], files["labels"], "custom", tmp_path, resize=128, mean=(0.5, 0.5, 0.5),
                         std=(0.25, 0.25, 0.25), interpolation="bicubic")
    pre = ModelMetadata.load(folder).preprocessing
    assert (pre.resize, pre.crop, pre.interpolation, pre.mean, pre.std) == (128, SIZE, "bicubic", (0.5,) * 3, (0.25,) * 3)


def test_not_an_onnx_file(tmp_path):
    bad = tmp_path / "photo.onnx"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not a model")
    expect_refusal(tmp_path, bad, "is not an ONNX model")
    expect_refusal(tmp_path, tmp_path / "missing.onnx", "does not exist")


def test_two_inputs(tmp_path):
    model = graph(tmp_path / "two.onnx", [("a", TensorProto.FLOAT, [1, 3, 8, 8]), ("b", TensorProto.FLOAT, [1, 3])],
                  [("y", TensorProto.FLOAT, [1, 3])], [helper.make_node("Identity", ["b"], ["y"])])
    expect_refusal(tmp_path, model, r"2 inputs \(a, b\)")


def test_two_outputs(tmp_path):
    model = graph(tmp_path / "two_out.onnx", [("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                  [("y", TensorProto.FLOAT, [1, 3, 8, 8]), ("z", TensorProto.FLOAT, [1, 3, 8, 8])])
    expect_refusal(tmp_path, model, r"2 outputs \(y, z\)")


def test_wrong_rank(tmp_path):
    model = graph(tmp_path / "rank.onnx", [("x", TensorProto.FLOAT, [1, 3, 64])], [("y", TensorProto.FLOAT, [1, 3, 64])])
    expect_refusal(tmp_path, model, r"rank 3 \(1 x 3 x 64\)")


def test_an_integer_input(tmp_path):
    model = graph(tmp_path / "int.onnx", [("x", TensorProto.UINT8, [1, 3, 8, 8])], [("y", TensorProto.UINT8, [1, 3])])
    expect_refusal(tmp_path, model, "is uint8; Maskscope feeds float32")


def test_channels_last(tmp_path):
    model = graph(tmp_path / "nhwc.onnx", [("x", TensorProto.FLOAT, ["n", 32, 32, 3])], [("y", TensorProto.FLOAT, ["n", 3])])
    expect_refusal(tmp_path, model, "looks channels-last")


def test_a_non_square_input(tmp_path):
    model = graph(tmp_path / "wide.onnx", [("x", TensorProto.FLOAT, ["n", 3, 32, 48])], [("y", TensorProto.FLOAT, ["n", 3])])
    expect_refusal(tmp_path, model, "32 x 48 pixels: Maskscope's preprocessing makes square crops")


def test_an_output_that_is_not_n_by_k(tmp_path):
    model = graph(tmp_path / "map.onnx", [("x", TensorProto.FLOAT, ["n", 3, 8, 8])], [("y", TensorProto.FLOAT, ["n", 3, 8, 8])])
    expect_refusal(tmp_path, model, r"output 'y' has rank 4.*N x K class scores")


def test_labels_that_do_not_match_the_classes(files, tmp_path):
    expect_refusal(tmp_path, files["dynamic"], "3 classes but .* has 4 lines",
                   labels=write_labels(tmp_path / "four.txt", (*LABELS, "extra")))


def test_a_batch_fixed_above_one(tmp_path):
    import torch
    path = tmp_path / "batch4.onnx"
    torch.onnx.export(tiny_classifier(), torch.zeros(4, 3, SIZE, SIZE), str(path), dynamo=False)
    expect_refusal(tmp_path, path, "batch axis is fixed at 4")


def test_a_free_input_size_needs_crop(files, tmp_path):
    model = graph(tmp_path / "free.onnx", [("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
                  [("y", TensorProto.FLOAT, ["n", 3])],
                  [helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=0)])
    expect_refusal(tmp_path, model, "input size is not fixed: say which with --crop")
    expect_refusal(tmp_path, files["dynamic"], f"--crop 64, but the model's input is fixed at {SIZE}", crop=64)
    folder = import_onnx(model, write_labels(tmp_path / "l.txt"), "free", tmp_path / "ok", crop=48)
    assert ModelMetadata.load(folder).input_size == 48


def test_probabilities_that_are_logits(files, tmp_path):
    expect_refusal(tmp_path, files["dynamic"], "these look like logits; use --output logits", output="probabilities")


def test_bad_labels_files(tmp_path):
    for text, match in (("", "is empty"), ("a\n\nb\n", "line 2 is blank"), ("a\nb\na\n", "'a' on line 3 repeats line 1")):
        path = tmp_path / "labels.txt"
        path.write_text(text)
        with pytest.raises(ImportRefused, match=match):
            read_labels(path)
    (tmp_path / "ok.txt").write_text("a\nb\n\n\n")
    assert read_labels(tmp_path / "ok.txt") == ("a", "b")
    (tmp_path / "notepad.txt").write_bytes("\ufeffbenign\r\nmalignant\r\n".encode())  # a BOM and CRLFs
    assert read_labels(tmp_path / "notepad.txt") == ("benign", "malignant")
    (tmp_path / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(ImportRefused, match="is not UTF-8"):
        read_labels(tmp_path / "latin.txt")


@pytest.mark.parametrize("kind, said", [("dynamic", "a dynamic batch axis"), ("fixed", "made dynamic"),
                                        ("baked", "fixed at 1"), ("dynamic-baked", "named free that runs one image only")])
def test_the_cli_says_what_it_found_of_each_batch_axis(files, tmp_path, capsys, kind, said):
    assert export_main(["onnx", str(files[kind]), "--labels", str(files["labels"]), "--name", "m",
                        "--out", str(tmp_path)]) == 0
    assert said in capsys.readouterr().out


def test_the_cli_imports_and_says_so(files, tmp_path, capsys):
    assert export_main(["onnx", str(files["baked"]), "--labels", str(files["labels"]), "--name", "lesions",
                        "--out", str(tmp_path)]) == 0
    assert "one image per run" in capsys.readouterr().out
    meta = json.loads((tmp_path / "lesions" / "metadata.json").read_text())
    assert meta["max_batch_size"] == 1 and meta["labels"] == list(LABELS)
    assert export_main(["onnx", str(files["dynamic"]), "--labels", str(tmp_path / "none.txt"), "--name", "x",
                        "--out", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "labels file" in error and "does not exist" in error


def test_a_non_float_output(tmp_path):
    model = graph(tmp_path / "argmax.onnx", [("x", TensorProto.FLOAT, ["n", 3, 8, 8])], [("y", TensorProto.INT64, ["n", 3])],
                  [helper.make_node("Cast", ["x"], ["c"], to=TensorProto.INT64),
                   helper.make_node("ReduceMax", ["c"], ["y"], axes=[2, 3], keepdims=0)])
    expect_refusal(tmp_path, model, "output 'y' is int64; Maskscope reads float32")


def test_a_model_that_gives_probabilities_is_not_softmaxed_again(tmp_path):
    import torch

    from inference_service.batching.model_queues import infer_and_rank
    path = export_onnx(torch.nn.Sequential(tiny_classifier(), torch.nn.Softmax(dim=1)).eval(), tmp_path / "p.onnx",
                       dynamic_batch=True)
    folder = import_onnx(path, write_labels(tmp_path / "l.txt"), "p", tmp_path / "models", output="probabilities")
    model = OnnxModel(folder, RuntimeOptions(device="cpu"))
    x = np.random.default_rng(2).standard_normal((3, SIZE, SIZE)).astype(np.float32) * 3
    (ranked,) = infer_and_rank(model, [x], 0, False)
    np.testing.assert_allclose(ranked.probabilities, model.run(x[None])[0], atol=1e-6)
