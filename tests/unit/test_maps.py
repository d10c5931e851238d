"""maskscope.maps: coverage of map cells, agreement, and the deletion curve's order, masks and area."""

import numpy as np
import pytest

from maskscope.maps import (agreement, cells_to_pixels, cells_to_png, coverage, deletion_auc, deletion_cells,
                            deletion_order)
from maskscope.photos import mask_png


def test_coverage_is_the_painted_share_of_each_cell():
    mask = np.zeros((20, 40), bool)
    mask[:, 10:20] = True  # the left half of a crop over x 10-30
    cov = coverage(mask, (10, 0, 30, 20), 2, 2)
    np.testing.assert_allclose(cov, [[1, 0], [1, 0]])
    mask[:5, 20:30] = True
    assert coverage(mask, (10, 0, 30, 20), 2, 2)[0, 1] == pytest.approx(0.5)


def test_coverage_and_cells_to_pixels_invert_each_other():
    cells = np.random.default_rng(0).random((7, 7)) > 0.5
    pixels = cells_to_pixels(cells, (12.5, 3.0, 180.0, 170.5), 200, 180)
    np.testing.assert_array_equal(coverage(pixels, (12.5, 3.0, 180.0, 170.5), 7, 7) > 0.5, cells)


def test_agreement_is_pearsons_and_flat_maps_agree_with_nothing():
    a = np.array([[0, 1], [2, 3]])
    assert agreement(a, a * 10 + 1) == pytest.approx(1)
    assert agreement(a, -a) == pytest.approx(-1)
    assert agreement(a, np.ones((2, 2))) == 0.0


def test_deletion_hides_the_most_important_cells_first():
    values = np.array([[0.1, 0.9], [0.5, 0.0]])
    assert list(deletion_order(values)) == [1, 2, 0, 3]
    assert sorted(deletion_order(values, seed=1)) == [0, 1, 2, 3]
    masks = [cells_to_pixels(cells, (0, 0, 4, 4), 4, 4)
             for cells in deletion_cells(deletion_order(values), (2, 2), steps=4)]
    assert [int(m.sum()) for m in masks] == [0, 4, 8, 12, 16]
    assert masks[1][:2, 2:].all() and not masks[1][:2, :2].any()  # cell (0, 1) goes first


def _coverage_per_pixel(mask, crop, rows, cols):
    """coverage as first written: an index per pixel (memory for eight bytes a pixel)."""
    height, width = mask.shape
    left, top, right, bottom = crop
    ys = (np.arange(height) + 0.5 - top) / (bottom - top) * rows
    xs = (np.arange(width) + 0.5 - left) / (right - left) * cols
    inside = ((ys >= 0) & (ys < rows))[:, None] & ((xs >= 0) & (xs < cols))[None, :]
    r, c = np.clip(ys.astype(int), 0, rows - 1), np.clip(xs.astype(int), 0, cols - 1)
    cell = (r[:, None] * cols + c[None, :])[inside]
    painted = np.bincount(cell, weights=mask[inside].astype(float), minlength=rows * cols)
    return (painted / np.maximum(np.bincount(cell, minlength=rows * cols), 1)).reshape(rows, cols)


@pytest.mark.parametrize("seed", range(12))
def test_coverage_by_runs_equals_coverage_per_pixel_and_the_png_equals_the_pixels(seed):
    rng = np.random.default_rng(seed)
    height, width = rng.integers(1, 90, 2)
    rows, cols = rng.integers(1, 20, 2)  # more cells than pixels too: cells with no pixel count 0
    left, top = rng.uniform(-20, width / 2), rng.uniform(-20, height / 2)
    crop = (left, top, left + rng.uniform(1, width + 20), top + rng.uniform(1, height + 20))
    mask = rng.random((height, width)) < 0.4
    np.testing.assert_allclose(coverage(mask, crop, rows, cols), _coverage_per_pixel(mask, crop, rows, cols))
    cells = rng.random((rows, cols)) < 0.5
    assert cells_to_png(cells, crop, width, height) == mask_png(cells_to_pixels(cells, crop, width, height))


def test_the_area_under_a_deletion_curve():
    assert deletion_auc([1.0, 0.0]) == pytest.approx(0.5)
    assert deletion_auc([0.9, 0.1, 0.0, 0.0]) < deletion_auc([0.9, 0.8, 0.5, 0.0])
    with pytest.raises(ValueError):
        deletion_auc([0.5])
