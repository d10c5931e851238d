"""inference_service/runtimes/metadata.py: a model folder's metadata, written and read back."""

import dataclasses

import pytest

from inference_service.runtimes.metadata import IMAGENET, ModelMetadata, Preprocessing, labels_sha256


def metadata(**changes) -> ModelMetadata:
    spec = Preprocessing(256, 224, "bilinear", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    base = ModelMetadata(name="m", labels=("a", "b"), input_name="x", output_name="y", input_size=224,
                         preprocessing=spec, provenance="made here", pretrained=True, sha256="0" * 64)
    return dataclasses.replace(base, **changes)


def test_metadata_survives_the_round_trip_and_refuses_other_versions():
    original = metadata(extra={"onnx": "1.20"}, max_batch_size=1, output="probabilities")
    assert ModelMetadata.from_json(original.to_json()) == original
    with pytest.raises(ValueError, match="format_version 99"):
        ModelMetadata.from_json(original.to_json().replace('"format_version": 1', '"format_version": 99'))


def test_bad_values_are_refused_and_imagenets_labels_are_known_by_their_hash(model_dir):
    with pytest.raises(ValueError, match="output 'scores'"):
        metadata(output="scores")
    with pytest.raises(ValueError, match="max_batch_size 4"):
        metadata(max_batch_size=4)
    assert metadata().label_set == ""
    lite0 = ModelMetadata.load(model_dir / "efficientnet-lite0")
    assert lite0.label_set == IMAGENET and labels_sha256(lite0.labels) == labels_sha256(list(lite0.labels))
