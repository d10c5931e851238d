"""Occlusion maps: hide one patch of the model's input at a time and see what the class loses.

Patches live in model-input pixels (the centre crop the model sees), so every occluded copy is
one model input, built from cached views without touching the full-size photo.
"""

from __future__ import annotations

import math

import numpy as np

from inference_service.errors import InvalidArgument
from inference_service.pipeline.inpaint import hole_filled_input
from inference_service.pipeline.preprocess import crop_offset

MAX_OCCLUDED_COPIES = 1024  # 32 x 32 positions: patch 14, stride 7 on a 224 input


def positions(size: int, patch: int, stride: int) -> list[int]:
    """Offsets of a patch sliding over `size` pixels; the last one always reaches the edge."""
    out = list(range(0, size - patch + 1, stride))
    if out[-1] != size - patch:
        out.append(size - patch)
    return out


def grid(size: int, patch: int, stride: int) -> list[tuple[int, int]]:
    offsets = positions(size, patch, stride)
    return [(y, x) for y in offsets for x in offsets]


def check_parameters(size: int, patch: int, stride: int) -> tuple[int, int]:
    """patch_size and stride with their defaults; INVALID_ARGUMENT when they make no sense."""
    patch = patch or max(1, size // 8)
    stride = stride or max(1, patch // 2)
    if not 1 <= patch <= size:
        raise InvalidArgument(f"patch_size must be between 1 and the model's input size {size}; got {patch}")
    if not 1 <= stride <= patch:
        raise InvalidArgument(f"stride must be between 1 and patch_size ({patch}); got {stride}")
    copies = len(positions(size, patch, stride)) ** 2
    if copies > MAX_OCCLUDED_COPIES:
        raise InvalidArgument(f"patch_size {patch} with stride {stride} makes {copies} occluded copies; "
                              f"at most {MAX_OCCLUDED_COPIES}: use a larger patch or stride")
    return patch, stride


def occlude(base: np.ndarray, fill_view: np.ndarray, y: int, x: int, patch: int) -> np.ndarray:
    """`base` (3 x S x S) with one patch replaced by the fill's view (for fills that do not depend
    on the mask: gray, black, blur, noise)."""
    out = base.copy()
    out[:, y:y + patch, x:x + patch] = np.broadcast_to(fill_view, base.shape)[:, y:y + patch, x:x + patch]
    return out


def occlude_hole_filled(fill: str, small: np.ndarray, hole: np.ndarray, spec, y: int, x: int, patch: int,
                        seed: int) -> np.ndarray:
    """An occluded copy for a fill made from the hole (inpaint, impute): the patch joins the hole
    and the whole hole is filled again."""
    left, top = crop_offset(small.shape[1], small.shape[0], spec.crop)
    hole = hole.copy()
    hole[top + y:top + y + patch, left + x:left + x + patch] = True
    return hole_filled_input(fill, small, hole, spec, seed)


def cell_map(drops, cells: list[tuple[int, int]], size: int, patch: int, stride: int) -> np.ndarray:
    """Per-patch drops to a map of n x n equal cells over the input (n = ceil(size / stride), so a
    cell is about a stride wide): each cell the mean drop of the patches that overlap it. Equal
    cells let a client place cell (r, c) at r/n .. (r+1)/n of the crop, whatever the stride."""
    n = math.ceil(size / stride)
    edges = np.arange(n + 1) * (size / n)
    total, count = np.zeros((n, n), np.float64), np.zeros((n, n), np.int64)

    def overlapping(start: int) -> slice:
        return slice(int(np.searchsorted(edges, start, side="right")) - 1,
                     int(np.searchsorted(edges, start + patch, side="left")))

    for drop, (y, x) in zip(drops, cells):
        rows, cols = overlapping(y), overlapping(x)
        total[rows, cols] += drop
        count[rows, cols] += 1
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0).astype(np.float32)
