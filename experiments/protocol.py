"""Masks derived from an occlusion map, for the protocol's two interactions (pure functions).

The main object is where hiding a patch costs the class the most: the cells of the map above a
fraction of its largest drop, grown by one cell so the object keeps its outline. The first
interaction hides everything else; the second also hides the object's most important half.
"""

from __future__ import annotations

import numpy as np

from maskscope.photos import one_bit_png

OBJECT_FRACTION = 0.35   # a cell is part of the object when its drop is at least this share of the largest
CORE_SHARE = 0.5         # the second interaction hides this share of the object's cells, the most important first


def object_cells(values: np.ndarray, fraction: float = OBJECT_FRACTION) -> np.ndarray:
    """Boolean rows x cols: cells at or above `fraction` of the largest drop, dilated by one cell."""
    peak = values.max()
    if peak <= 0:
        return np.zeros_like(values, bool)
    core = values >= fraction * peak
    grown = core.copy()
    rows, cols = core.shape
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            shifted = np.zeros_like(core)
            shifted[max(0, dr):rows + min(0, dr), max(0, dc):cols + min(0, dc)] = \
                core[max(0, -dr):rows - max(0, dr), max(0, -dc):cols - max(0, dc)]
            grown |= shifted
    return grown


def core_cells(values: np.ndarray, inside: np.ndarray, share: float = CORE_SHARE) -> np.ndarray:
    """The most important `share` of the `inside` cells (by drop)."""
    order = np.argsort(-np.where(inside, values, -np.inf), axis=None)
    count = int(round(inside.sum() * share))
    core = np.zeros(values.size, bool)
    core[order[:count]] = True
    return core.reshape(values.shape) & inside


def mask_png(painted: np.ndarray) -> bytes:
    """A mask the service reads: white where painted (hidden), black elsewhere (a PNG even when
    nothing is painted, unlike maskscope.photos.mask_png: every step of the protocol sends one)."""
    painted = np.asarray(painted) != 0
    return one_bit_png(np.packbits(painted, axis=1), painted.shape[1], painted.shape[0])
