"""region_inputs: a set of hidden regions gives the very input a Classify with that mask gets."""

import io

import numpy as np
import pytest
from PIL import Image

from inference_service.errors import InvalidArgument
from inference_service.pipeline.image_cache import CachedImage
from inference_service.pipeline.masks import encode_png
from inference_service.pipeline.region_inputs import RegionInputs, read_labels
from inference_service.runtimes.metadata import Preprocessing

PHOTO_ID = "ab" * 32  # photo ids are SHA-256 hex: the noise fill is seeded from them
SPEC = Preprocessing(resize=256, crop=224, interpolation="bilinear", mean=(0.485, 0.456, 0.406),
                     std=(0.229, 0.224, 0.225))


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(0)
    rgb = (rng.random((300, 420, 3)) * 255).astype(np.uint8)
    return rgb


def grid_labels(height: int, width: int, rows: int = 5, cols: int = 7) -> np.ndarray:
    y = np.arange(height)[:, None] * rows // height
    x = np.arange(width)[None, :] * cols // width
    return (y * cols + x).astype(np.uint8)


def reference(rgb, mask_png: bytes, fill: str) -> np.ndarray:
    """The input Classify makes for this mask on a photo it has never seen (the plain way)."""
    return CachedImage(PHOTO_ID, rgb).inputs(SPEC).input_for(mask_png, fill, False)


@pytest.mark.parametrize("fill", ["gray", "blur", "noise", "inpaint"])
@pytest.mark.parametrize("hidden", [set(), {0}, {3, 17, 18}, set(range(2, 35))])
def test_an_input_equals_classifys_input_for_the_same_mask(photo, fill, hidden):
    labels = grid_labels(*photo.shape[:2])
    start = np.zeros(photo.shape[:2], bool)
    start[100:160, 150:260] = True  # a person's own mask, hidden from the start
    inputs = RegionInputs(CachedImage(PHOTO_ID, photo), SPEC, labels, encode_png(start), fill)
    got = inputs.input_for(hidden)
    mask = np.isin(labels, list(hidden)) | start
    assert inputs.hidden_png(hidden) == encode_png(mask)
    np.testing.assert_allclose(got, reference(photo, encode_png(mask), fill), atol=2e-4)


def test_areas_count_the_crop_only_and_not_what_is_already_hidden(photo):
    labels = grid_labels(*photo.shape[:2])
    plain = RegionInputs(CachedImage(PHOTO_ID, photo), SPEC, labels, b"", "gray")
    assert plain.areas.sum() == pytest.approx(1.0)
    assert plain.areas[0] == 0 and 0 not in plain.searchable  # the top-left corner is outside the crop
    start = labels == 17
    masked = RegionInputs(CachedImage(PHOTO_ID, photo), SPEC, labels, encode_png(start), "gray")
    assert masked.areas[17] == 0 and 17 not in masked.searchable
    assert masked.areas.sum() == pytest.approx(1.0 - plain.areas[17])


def png(array: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.fromarray(array, mode).save(out, fmt)
    return out.getvalue()


def test_a_callers_regions_are_read_as_segments_writes_them():
    labels = grid_labels(30, 40)
    assert np.array_equal(read_labels(png(labels), 40, 30), labels)


@pytest.mark.parametrize("data, message", [
    (png(grid_labels(30, 41)), "regions are 41 x 30 pixels; the image is 40 x 30"),
    (png(np.zeros((30, 40, 3), np.uint8)), "8-bit greyscale PNG"),
    (png(grid_labels(30, 40), fmt="JPEG"), "8-bit greyscale PNG"),
    (b"not an image", "could not be read"),
])
def test_bad_regions_are_refused_with_what_was_wrong(data, message):
    with pytest.raises(InvalidArgument, match=message):
        read_labels(data, 40, 30)


def test_scattered_regions_are_refused_before_they_cost_the_photo_each(photo):
    rows, cols = np.indices(photo.shape[:2])
    checkerboard = ((rows // 3 * 7 + cols // 3) % 200).astype(np.uint8)  # 200 regions, each all over the photo
    with pytest.raises(InvalidArgument, match="the regions are too scattered"):
        RegionInputs(CachedImage(PHOTO_ID, photo), SPEC, checkerboard, b"", "gray")
