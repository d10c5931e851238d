"""The inpaint fill: painted regions filled from their surroundings, at the model's resize."""

import numpy as np

from inference_service.pipeline import inpaint
from inference_service.pipeline.preprocess import crop_offset
from inference_service.runtimes.metadata import Preprocessing

SPEC = Preprocessing(resize=32, crop=24, interpolation="bilinear", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def test_inpainting_fills_a_hole_from_its_surroundings():
    rgb = np.full((40, 60, 3), (200, 40, 90), np.uint8)
    rgb[10:20, 20:30] = 0  # a black square on a flat colour: inpainting it gives back the colour
    small = inpaint.resized_image(rgb, SPEC)
    assert small.shape == (32, 48, 3)
    hole = np.zeros(small.shape[:2], bool)
    hole[6:18, 14:26] = True
    filled = inpaint.inpainted_input(small, hole, SPEC)
    assert filled.shape == (3, 24, 24)
    pixels = filled * 0.25 * 255 + 0.5 * 255  # back to 0-255
    left, top = crop_offset(small.shape[1], small.shape[0], SPEC.crop)
    np.testing.assert_allclose(pixels[:, 8 - top, 20 - left], (200, 40, 90), atol=12)
    untouched = inpaint.inpainted_input(small, np.zeros_like(hole), SPEC) * 0.25 * 255 + 0.5 * 255
    assert untouched[:, 8 - top, 20 - left].max() < 60  # without a hole the square stays dark
