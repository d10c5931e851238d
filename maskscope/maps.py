"""Map arithmetic shared by the experiments, the study summary and the notebook client: a map's
cells over the photo's pixels, how much of each cell a mask covers, how well two maps agree, and
faithfulness as the literature measures it (RISE's deletion curve). Pure numpy."""

from __future__ import annotations

import numpy as np

Crop = tuple[float, float, float, float]  # left, top, right, bottom, in photo pixels


def cell_of_pixels(crop: Crop, rows: int, cols: int, width: int, height: int):
    """Per axis, each pixel's cell of a rows x cols map over `crop` (clipped), and whether the pixel
    is inside the map: (row of each y, column of each x, inside by y, inside by x)."""
    left, top, right, bottom = crop
    ys = (np.arange(height) + 0.5 - top) / (bottom - top) * rows
    xs = (np.arange(width) + 0.5 - left) / (right - left) * cols
    inside_y, inside_x = (ys >= 0) & (ys < rows), (xs >= 0) & (xs < cols)
    return np.clip(ys.astype(int), 0, rows - 1), np.clip(xs.astype(int), 0, cols - 1), inside_y, inside_x


def cells_to_pixels(cells: np.ndarray, crop: Crop, width: int, height: int) -> np.ndarray:
    """Boolean height x width: the photo's pixels under the given cells of a map over `crop`."""
    r, c, inside_y, inside_x = cell_of_pixels(crop, *cells.shape, width, height)
    return cells[r[:, None], c[None, :]] & inside_y[:, None] & inside_x[None, :]


def _run(cell: np.ndarray, inside: np.ndarray):
    """Along one axis: the pixels inside the map (one unbroken range, lo to hi), where each cell's
    run of them starts (relative to lo), and those cells' numbers."""
    where = np.flatnonzero(inside)
    if not where.size:
        return 0, 0, where, where
    lo, hi = int(where[0]), int(where[-1]) + 1
    cells = cell[lo:hi]
    starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
    return lo, hi, starts, cells[starts]


def coverage(mask: np.ndarray, crop: Crop, rows: int, cols: int) -> np.ndarray:
    """rows x cols: the share of each map cell's pixels that `mask` (height x width, True = painted)
    covers. Summed over runs of rows and columns, so it needs memory for rows x width numbers, not
    for one per pixel (a 40-megapixel mask is summed in place)."""
    height, width = mask.shape
    r, c, inside_y, inside_x = cell_of_pixels(crop, rows, cols, width, height)
    y0, y1, y_starts, y_cells = _run(r, inside_y)
    x0, x1, x_starts, x_cells = _run(c, inside_x)
    painted, total = np.zeros((rows, cols)), np.zeros((rows, cols))
    if y_starts.size and x_starts.size:
        by_rows = np.add.reduceat(mask[y0:y1, x0:x1], y_starts, axis=0, dtype=np.int64)
        painted[np.ix_(y_cells, x_cells)] = np.add.reduceat(by_rows, x_starts, axis=1)
        total[np.ix_(y_cells, x_cells)] = np.outer(np.diff(np.r_[y_starts, y1 - y0]), np.diff(np.r_[x_starts, x1 - x0]))
    return painted / np.maximum(total, 1)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's correlation of two maps of the same cells (0 where either is flat), as the page's
    Agreement: 1, the same regions matter; 0, unrelated; below 0, opposite."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    a, b = a - a.mean(), b - b.mean()
    scale = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / scale) if scale > 0 else 0.0


TIE_SEED = 1  # ties (a painted map's cells are all 0 or 1) in one fixed random order, not scan order


def deletion_order(values: np.ndarray, seed: int | None = None) -> np.ndarray:
    """The cells' flat indices, the map's most important first (ties in a fixed random order, so a
    flat region is not hidden top-left first); with a seed, a random order (the baseline)."""
    flat = np.asarray(values, float).ravel()
    if seed is not None:
        return np.random.default_rng(seed).permutation(flat.size)
    return np.lexsort((np.random.default_rng(TIE_SEED).permutation(flat.size), -flat))


def deletion_cells(order: np.ndarray, shape: tuple[int, int], steps: int):
    """The cells hidden at each step of a deletion curve: the first 0, 1/steps, ..., all of
    `order`'s, as rows x cols booleans (steps + 1 of them, made one at a time)."""
    rows, cols = shape
    for k in range(steps + 1):
        cells = np.zeros(rows * cols, bool)
        cells[order[: round(k * rows * cols / steps)]] = True
        yield cells.reshape(rows, cols)


def cells_to_png(cells: np.ndarray, crop: Crop, width: int, height: int) -> bytes:
    """The mask of cells_to_pixels as the 1-bit PNG the service takes (empty: nothing hidden),
    made from one packed row per row of cells: a 40-megapixel photo's mask costs 5 MB, not 40."""
    from maskscope.photos import one_bit_png
    rows, cols = cells.shape
    r, c, inside_y, inside_x = cell_of_pixels(crop, rows, cols, width, height)
    if not cells.any():
        return b""
    packed = np.zeros((rows + 1, (width + 7) // 8), np.uint8)  # the last: rows outside the map
    packed[:rows] = np.packbits(cells[:, c] & inside_x[None, :], axis=1)
    return one_bit_png(packed[np.where(inside_y, r, rows)], width, height)


def deletion_auc(probabilities) -> float:
    """The area under a deletion curve (the class's probability after hiding 0 .. all of the cells,
    evenly spaced): lower means the order found what the model needs sooner."""
    p = np.asarray(probabilities, float)
    if p.size < 2:
        raise ValueError("a deletion curve needs at least two points")
    return float(((p[1:] + p[:-1]) / 2).sum() / (p.size - 1))
