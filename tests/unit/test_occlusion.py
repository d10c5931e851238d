"""Occlusion maps' geometry, as pure functions."""

import numpy as np
import pytest

from inference_service.errors import InvalidArgument
from inference_service.pipeline import occlusion


def test_positions_cover_the_edges():
    assert occlusion.positions(224, 56, 28) == [0, 28, 56, 84, 112, 140, 168]
    assert occlusion.positions(10, 4, 4) == [0, 4, 6]  # the last patch is moved back to the edge
    assert occlusion.positions(8, 8, 3) == [0]
    assert len(occlusion.grid(224, 56, 28)) == 49


def test_parameters_default_and_are_checked():
    assert occlusion.check_parameters(224, 0, 0) == (28, 14)
    assert occlusion.check_parameters(224, 32, 0) == (32, 16)
    for patch, stride in ((0, 300), (300, 0), (16, 17), (2, 1)):
        with pytest.raises(InvalidArgument):
            occlusion.check_parameters(224, patch, stride)


def test_cell_map_averages_the_patches_covering_each_cell():
    cells = occlusion.grid(4, 2, 2)  # four disjoint 2x2 patches
    values = occlusion.cell_map([1.0, 2.0, 3.0, 4.0], cells, 4, 2, 2)
    np.testing.assert_array_equal(values, [[1, 2], [3, 4]])
    overlapping = occlusion.cell_map([1.0, 3.0], [(0, 0), (0, 1)], 3, 2, 1)  # cells (0,1) and (1,1) see both
    np.testing.assert_allclose(overlapping, [[1, 2, 3], [1, 2, 3], [0, 0, 0]])


def test_occlude_replaces_exactly_one_patch():
    base = np.zeros((3, 8, 8), np.float32)
    out = occlusion.occlude(base, np.float32(7).reshape(1, 1, 1), 2, 4, 3)
    assert out[:, 2:5, 4:7].min() == 7 and out.sum() == 7 * 3 * 9 and base.sum() == 0


def test_cells_are_equal_even_when_the_stride_does_not_divide_the_input():
    cells = occlusion.grid(10, 4, 4)  # patches at 0, 4 and 6; three cells of 10/3 px
    values = occlusion.cell_map([1.0 if (y, x) == (0, 0) else 0.0 for y, x in cells], cells, 10, 4, 4)
    assert values.shape == (3, 3)
    # The patch over 0-4 px reaches into the second cell (3.33-6.67 px), which patches at 4 and 6 also cover.
    np.testing.assert_allclose(values[0], [1, 1 / 3, 0], atol=1e-6)
