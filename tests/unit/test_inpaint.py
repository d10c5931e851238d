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


def gradient(height: int = 40, width: int = 50) -> np.ndarray:
    y, x = np.indices((height, width))
    return np.stack([2 * x + 40, 3 * y + 20, x + y + 60], axis=-1).astype(np.uint8)


def test_imputation_fills_a_hole_in_a_smooth_gradient_with_the_gradient_plus_little_noise():
    """A linear ramp is what each pixel's neighbour mean reproduces: a hole in it comes back as the
    ramp (ROAD's imputation), off only by its noise; no edge marks where the hole was."""
    pixels = gradient()
    hole = np.zeros(pixels.shape[:2], bool)
    hole[10:30, 0:45] = True  # touching the left edge: there, fewer neighbours carry the weight
    filled = inpaint.impute(pixels, hole, seed=3)
    error = filled - pixels.astype(np.float32)
    inner = error[10:30, 20:45]
    assert abs(float(inner.mean())) < 1.0 and 1.5 < float(inner.std()) < 3.5  # noise of ~2.55
    # At the edge a pixel has fewer neighbours: their weights still make a mean, not a fade to black.
    assert float(np.abs(error[10:30, 0].mean(axis=0)).max()) < 20  # flatter there (one-sided), not dark
    assert np.array_equal(filled[~hole], pixels[~hole])
    assert np.array_equal(filled, inpaint.impute(pixels, hole, seed=3))  # seeded: the same every time
    assert not np.array_equal(filled, inpaint.impute(pixels, hole, seed=4))


def test_imputation_of_nothing_or_everything():
    pixels = gradient()
    assert np.array_equal(inpaint.impute(pixels, np.zeros(pixels.shape[:2], bool), 0), pixels)
    everything = inpaint.impute(pixels, np.ones(pixels.shape[:2], bool), 0)
    assert np.all(everything == (124, 116, 104))  # no neighbour to take from: the gray fill


def test_the_imputed_input_is_the_crop_normalised():
    small = np.repeat(np.repeat(gradient(32, 48), 1, axis=0), 1, axis=1)
    hole = np.zeros(small.shape[:2], bool)
    hole[10:20, 20:30] = True
    x = inpaint.hole_filled_input("impute", small, hole, SPEC, seed=0)
    left, top = crop_offset(small.shape[1], small.shape[0], SPEC.crop)
    pixels = x * 0.25 * 255 + 0.5 * 255
    np.testing.assert_allclose(pixels[:, 15 - top, 25 - left], small[15, 25], atol=10)
    np.testing.assert_allclose(pixels[:, 2, 2], small[top + 2, left + 2], atol=1e-3)
