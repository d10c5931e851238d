"""The fills made from the hole itself: `inpaint` (OpenCV's Telea method) and `impute` (ROAD's
noisy linear imputation: each hidden pixel the weighted mean of its eight neighbours, solved over
the whole hole at once, plus a little noise, so that the hole's shape does not show as an edge;
Rong et al., ICML 2022).

Neither is linear in the mask, so they cannot use the cached-view arithmetic of the other fills.
They run at the size the model's resize makes (e.g. 256 px on the shorter side), imputation only
over the centre crop the model sees, then the crop is taken as usual.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from inference_service.errors import FailedPrecondition
from inference_service.pipeline.preprocess import _RESAMPLING, crop_offset, normalise, resized_size
from inference_service.runtimes.metadata import Preprocessing
from maskscope.fills import COLOURS

INPAINT_RADIUS_PX = 3  # the neighbourhood each filled pixel is taken from, at the model's scale
# ROAD's weights: the four nearest neighbours 1/6 each, the four diagonal ones 1/12 each.
IMPUTE_NEIGHBOURS = (((-1, 0), 1 / 6), ((1, 0), 1 / 6), ((0, -1), 1 / 6), ((0, 1), 1 / 6),
                     ((-1, -1), 1 / 12), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((1, 1), 1 / 12))
IMPUTE_NOISE = 0.01 * 255  # ROAD's noise: 0.01 of the pixel range, its standard deviation
HOLE_FILLS = ("inpaint", "impute")


def _cv2():
    try:
        import cv2
    except ImportError:
        raise FailedPrecondition("the inpaint fill needs OpenCV on the server: "
                                 "pip install opencv-python-headless") from None
    return cv2


def resized_image(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """The whole image with its shorter side resized to spec.resize (H x W x 3 uint8)."""
    width, height = resized_size(rgb.shape[1], rgb.shape[0], spec.resize)
    return np.asarray(Image.fromarray(rgb).resize((width, height), _RESAMPLING[spec.interpolation]))


def resized_hole(painted: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The painted area at the resized size (bool H x W): any pixel a stroke touches is a hole,
    so thin strokes do not vanish when the image shrinks."""
    return np.asarray(painted.resize(size, Image.Resampling.BILINEAR)) > 0


def inpainted_input(small: np.ndarray, hole: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """The model input (3 x crop x crop float32) of `small` with `hole` inpainted."""
    if hole.any():
        small = _cv2().inpaint(np.ascontiguousarray(small), hole.astype(np.uint8) * 255, INPAINT_RADIUS_PX,
                               _cv2().INPAINT_TELEA)
    left, top = crop_offset(small.shape[1], small.shape[0], spec.crop)
    crop = small[top:top + spec.crop, left:left + spec.crop]
    return normalise(crop.transpose(2, 0, 1).astype(np.float32), spec)


def hole_filled_input(fill: str, small: np.ndarray, hole: np.ndarray, spec: Preprocessing, seed: int) -> np.ndarray:
    """The model input of `small` with `hole` filled by `fill` (one of HOLE_FILLS)."""
    if fill == "inpaint":
        return inpainted_input(small, hole, spec)
    return imputed_input(small, hole, spec, seed)


def imputed_input(small: np.ndarray, hole: np.ndarray, spec: Preprocessing, seed: int) -> np.ndarray:
    """The model input (3 x crop x crop float32) of `small` with `hole` imputed, over the crop."""
    left, top = crop_offset(small.shape[1], small.shape[0], spec.crop)
    window = (slice(top, top + spec.crop), slice(left, left + spec.crop))
    crop = impute(small[window], hole[window], seed)
    return normalise(crop.transpose(2, 0, 1), spec)


def impute(pixels: np.ndarray, hole: np.ndarray, seed: int) -> np.ndarray:
    """`pixels` (H x W x 3) with the `hole`'s pixels replaced by noisy linear imputation (float32).
    A hole that covers everything has no neighbours to take from: it becomes the gray fill."""
    import scipy.sparse
    import scipy.sparse.linalg

    out = pixels.astype(np.float32)
    count = int(hole.sum())
    if count == 0:
        return out
    if count == hole.size:
        out[:] = COLOURS["gray"]
        return out
    height, width = hole.shape
    number = np.full(hole.shape, -1, np.int64)
    number[hole] = np.arange(count)
    ys, xs = np.nonzero(hole)
    reach = np.zeros(count)  # each pixel's weights inside the picture, to normalise them to 1
    neighbours = []
    for (dy, dx), weight in IMPUTE_NEIGHBOURS:
        y, x = ys + dy, xs + dx
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        reach[inside] += weight
        neighbours.append((np.flatnonzero(inside), y[inside], x[inside], weight))
    rows, columns, values = [np.arange(count)], [np.arange(count)], [np.ones(count)]
    known = np.zeros((count, 3))
    for i, y, x, weight in neighbours:
        w = weight / reach[i]
        j = number[y, x]
        hidden = j >= 0
        rows.append(i[hidden])
        columns.append(j[hidden])
        values.append(-w[hidden])
        np.add.at(known, i[~hidden], w[~hidden, None] * out[y[~hidden], x[~hidden]])
    system = scipy.sparse.csc_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
                                     shape=(count, count))
    solved = scipy.sparse.linalg.splu(system).solve(known)
    solved += np.random.default_rng(seed).normal(0.0, IMPUTE_NOISE, solved.shape)
    out[hole] = np.clip(solved, 0, 255)
    return out
