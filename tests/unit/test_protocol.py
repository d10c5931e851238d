"""The experiments' automatic masks: object cells from a map, its core, and the pixels under cells."""

import io

import numpy as np
from PIL import Image

from experiments.protocol import core_cells, mask_png, object_cells
from maskscope.maps import cells_to_pixels


def test_the_object_is_the_peak_grown_by_one_cell():
    values = np.zeros((5, 5))
    values[2, 2], values[0, 4] = 1.0, 0.2
    obj = object_cells(values)
    assert obj[1:4, 1:4].all() and obj.sum() == 9  # 0.2 is below 35% of the peak
    assert not object_cells(np.zeros((3, 3))).any()


def test_the_core_is_the_most_important_share_of_the_object():
    values = np.arange(16, dtype=float).reshape(4, 4)
    inside = np.zeros((4, 4), bool)
    inside[2:, :] = True
    core = core_cells(values, inside)
    assert core.sum() == 4 and core[3].all()  # the highest half of the 8 inside cells


def test_cells_map_onto_the_crop_of_the_photo():
    cells = np.array([[True, False], [False, False]])
    pixels = cells_to_pixels(cells, (10, 0, 30, 20), 40, 20)  # the crop is x 10-30 of a 40 x 20 photo
    assert pixels.shape == (20, 40)
    assert pixels[:10, 10:20].all() and pixels.sum() == 100  # only the top-left cell, inside the crop


def test_masks_are_pngs_the_service_reads_as_painted_where_true():
    painted = np.zeros((6, 8), bool)
    painted[:, :3] = True
    image = Image.open(io.BytesIO(mask_png(painted)))
    np.testing.assert_array_equal(np.asarray(image.convert("L")) > 0, painted)
