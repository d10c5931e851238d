"""maskscope.maps: coverage of map cells, agreement, and the deletion curve's order, masks and area."""

import numpy as np
import pytest

from maskscope.maps import agreement, cells_to_pixels, coverage, deletion_auc, deletion_masks, deletion_order


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
    masks = deletion_masks(deletion_order(values), (2, 2), (0, 0, 4, 4), 4, 4, steps=4)
    assert [int(m.sum()) for m in masks] == [0, 4, 8, 12, 16]
    assert masks[1][:2, 2:].all() and not masks[1][:2, :2].any()  # cell (0, 1) goes first


def test_the_area_under_a_deletion_curve():
    assert deletion_auc([1.0, 0.0]) == pytest.approx(0.5)
    assert deletion_auc([0.9, 0.1, 0.0, 0.0]) < deletion_auc([0.9, 0.8, 0.5, 0.0])
    with pytest.raises(ValueError):
        deletion_auc([0.5])
