"""PIL's resize as linear maps: what a mask's change is resized with."""

import numpy as np
import pytest
from PIL import Image

from inference_service.pipeline.linear_resize import ViewResize
from inference_service.pipeline.preprocess import source_crop_box
from inference_service.runtimes.metadata import Preprocessing


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("resize_to", [256, 232, 224])
@pytest.mark.parametrize("width, height", [(600, 400), (451, 300), (37, 1000), (1999, 17), (224, 224), (5, 3), (1, 1),
                                           (512, 512), (64, 64), (288, 288)])
def test_the_views_resize_as_linear_maps_equals_pils_resize(interpolation, resize_to, width, height):
    """What a mask's change is resized with must be PIL's resize, region or whole image alike
    (nearest included, whose sampling PIL steps in its own arithmetic)."""
    spec = Preprocessing(resize_to, 224, interpolation, (0.5,) * 3, (0.5,) * 3)
    resize = ViewResize.of(width, height, spec)
    plane = np.random.default_rng(width).random((height, width)).astype(np.float32) * 255
    left, top = width // 3, height // 4
    for box in [(0, 0, width, height), (left, top, left + max(1, width // 5), top + max(1, height // 6))]:
        region = np.zeros_like(plane)
        region[box[1]:box[3], box[0]:box[2]] = plane[box[1]:box[3], box[0]:box[2]]
        pil = np.asarray(Image.fromarray(region, "F").resize(
            (224, 224), getattr(Image.Resampling, interpolation.upper()), box=source_crop_box(width, height, spec)))
        ours = np.zeros((224, 224), np.float32)
        change = resize.apply(plane[None, box[1]:box[3], box[0]:box[2]], box)
        if change is not None:
            rows, columns, values = change
            ours[rows, columns] = values[0]
        assert np.abs(ours - pil).max() < 1e-3  # float rounding of values up to 255
        assert (ours != 0).any() or not (pil != 0).any()
        trimmed = resize.trim(box)  # only what the view reads of the box: the same result
        if trimmed is None:
            assert not (pil != 0).any()
            continue
        change = resize.apply(plane[None, trimmed[1]:trimmed[3], trimmed[0]:trimmed[2]], trimmed)
        ours_trimmed = np.zeros((224, 224), np.float32)
        ours_trimmed[change[0], change[1]] = change[2][0]
        assert np.abs(ours_trimmed - pil).max() < 1e-3
