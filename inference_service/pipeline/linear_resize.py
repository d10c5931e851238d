"""PIL's resize as linear maps, per axis: a mask's change resized over its own box, with PIL's
own filter coefficients, so that it adds exactly onto a resized view of the photo."""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image

from inference_service.pipeline.masks import Box
from inference_service.pipeline.preprocess import source_crop_box
from inference_service.runtimes.metadata import Preprocessing


def _bilinear(x: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, 1.0 - np.abs(x))


def _bicubic(x: np.ndarray) -> np.ndarray:
    x, a = np.abs(x), -0.5
    return np.where(x < 1.0, ((a + 2.0) * x - (a + 3.0)) * x * x + 1,
                    np.where(x < 2.0, (((x - 5) * x + 8) * x - 4) * a, 0.0))


# A changed box's resize as one dense matrix product up to this many weights per axis; beyond, tap by tap.
DENSE_LIMIT = 1 << 15
# An axis's whole weight matrix is kept up to this many weights (8 MiB: a side of ~9,000 pixels at crop 224).
KEPT_WEIGHTS_LIMIT = 1 << 21
# PIL's convolution filters (libImaging/Resample.c): support at scale 1, and the kernel.
_FILTERS = {"bilinear": (1.0, _bilinear), "bicubic": (2.0, _bicubic)}


@dataclass(frozen=True, eq=False)
class AxisResize:
    """One axis of PIL's resize (of an "F" image, with a box) as a linear map: output i is a
    weighted sum of inputs lo[i]:hi[i], with PIL's own coefficients (computed as Resample.c does).

    A mask's change is resized with it over the changed box alone, with no image made; the cost
    grows with the outputs the box reaches times the filter's taps.
    """

    interpolation: str
    center: np.ndarray  # per output: where its filter is centred, in input pixels
    lo: np.ndarray  # per output: first input it reads (non-decreasing)
    hi: np.ndarray  # per output: one past the last input it reads (non-decreasing)
    norm: np.ndarray  # per output: 1 / the sum of its weights
    filter_scale: float

    @classmethod
    def of(cls, size: int, start: float, end: float, out_size: int, interpolation: str) -> AxisResize:
        if interpolation == "nearest":
            # PIL's nearest is an affine transform stepped in its own arithmetic: ask PIL which
            # input each output samples, by resizing a ramp.
            ramp = Image.fromarray(np.arange(size, dtype=np.float32)[None], "F")
            lo = np.asarray(ramp.resize((out_size, 1), Image.Resampling.NEAREST, box=(start, 0, end, 1)))[0]
            lo = lo.astype(np.int64)
            return cls(interpolation, lo + 0.5, lo, lo + 1, np.ones(out_size), 1.0)
        start, end = np.float32(start), np.float32(end)  # PIL takes the box as C floats
        scale = float(end - start) / out_size
        center = float(start) + (np.arange(out_size) + 0.5) * scale
        support_1, kernel = _FILTERS[interpolation]
        filter_scale = max(scale, 1.0)
        support = support_1 * filter_scale
        lo = np.maximum((center - support + 0.5).astype(np.int64), 0)  # C's (int) truncates, as astype does
        hi = np.minimum((center + support + 0.5).astype(np.int64), size)
        taps = np.arange(int(np.max(hi - lo, initial=0)))
        weights = kernel((lo[:, None] + taps - center[:, None] + 0.5) / filter_scale)
        weights[taps >= (hi - lo)[:, None]] = 0
        total = weights.sum(axis=1)
        return cls(interpolation, center, lo, hi, np.divide(1.0, total, out=np.ones_like(total), where=total != 0),
                   filter_scale)

    def reach(self, first: int, last: int) -> tuple[int, int]:
        """The outputs [a, b) that read any of the inputs [first, last)."""
        lo, hi = self._bounds
        return bisect.bisect_right(hi, first), bisect.bisect_left(lo, last)

    @functools.cached_property
    def _bounds(self) -> tuple[list[int], list[int]]:
        # bisect on lists: ~0.2 us a search, where np.searchsorted costs ~3 (twice per axis and request)
        return self.lo.tolist(), self.hi.tolist()

    @functools.cached_property
    def _all_weights(self) -> np.ndarray | None:
        """Every input's weight in every output, when small enough to keep (see `weights`)."""
        inputs = int(np.max(self.hi, initial=0))
        if inputs * len(self.lo) > KEPT_WEIGHTS_LIMIT:
            return None
        return self._weights(0, inputs, 0, len(self.lo))

    def held_bytes(self) -> int:
        kept = self.__dict__.get("_all_weights")
        return 0 if kept is None else kept.nbytes

    def weights(self, first: int, last: int, out_first: int, out_last: int) -> np.ndarray:
        """(last - first) x (out_last - out_first) float32: the weight of each input in each output.

        A slice of the whole axis's weights, computed once: a mask's every change needs a block,
        and computing it cost ~10 numpy calls per axis and request."""
        kept = self._all_weights
        if kept is not None and last <= kept.shape[0]:
            return kept[first:last, out_first:out_last]
        return self._weights(first, last, out_first, out_last)

    def _weights(self, first: int, last: int, out_first: int, out_last: int) -> np.ndarray:
        inputs = np.arange(first, last)[:, None]
        out = slice(out_first, out_last)
        if self.interpolation == "nearest":
            return (inputs == self.lo[out]).astype(np.float32)
        _, kernel = _FILTERS[self.interpolation]
        w = kernel((inputs - self.center[out] + 0.5) / self.filter_scale) * self.norm[out]
        w[(inputs < self.lo[out]) | (inputs >= self.hi[out])] = 0
        return w.astype(np.float32)

    def apply(self, planes: np.ndarray, first: int, last: int, out_first: int, out_last: int) -> np.ndarray:
        """Outputs [out_first, out_last) along the last axis of `planes`, which holds the inputs
        [first, last) (every other input counts as 0). A small block is one matrix product; a
        large one goes one filter tap at a time, so its cost grows with the taps, not the inputs."""
        if (last - first) * (out_last - out_first) <= DENSE_LIMIT:
            return planes @ self.weights(first, last, out_first, out_last)
        lo, hi, out = self.lo[out_first:out_last], self.hi[out_first:out_last], slice(out_first, out_last)
        result = np.zeros((*planes.shape[:-1], out_last - out_first), np.float32)
        for tap in range(int(np.max(hi - lo, initial=0))):
            inputs = lo + tap
            used = (inputs < hi) & (inputs >= first) & (inputs < last)
            if not used.any():
                continue
            if self.interpolation == "nearest":
                weights = used.astype(np.float32)
            else:
                _, kernel = _FILTERS[self.interpolation]
                weights = (kernel((inputs - self.center[out] + 0.5) / self.filter_scale) * self.norm[out] * used)
            result += planes[..., np.clip(inputs - first, 0, last - first - 1)] * weights.astype(np.float32)
        return result


@dataclass(frozen=True, eq=False)
class ViewResize:
    """The model view's resize and centre crop of a width x height image, per axis."""

    columns: AxisResize
    rows: AxisResize

    @classmethod
    def of(cls, width: int, height: int, spec: Preprocessing) -> ViewResize:
        left, top, right, bottom = source_crop_box(width, height, spec)
        return cls(AxisResize.of(width, left, right, spec.crop, spec.interpolation),
                   AxisResize.of(height, top, bottom, spec.crop, spec.interpolation))

    def held_bytes(self) -> int:
        return self.columns.held_bytes() + self.rows.held_bytes()

    def reach(self, box: Box) -> tuple[int, int, int, int] | None:
        """The view's outputs (x0, x1, y0, y1) that read any pixel of `box`, or None."""
        left, top, right, bottom = box
        x0, x1 = self.columns.reach(left, right)
        y0, y1 = self.rows.reach(top, bottom)
        return None if x0 >= x1 or y0 >= y1 else (x0, x1, y0, y1)

    def trim(self, box: Box) -> Box | None:
        """The part of `box` that the view reads, or None."""
        reach = self.reach(box)
        if reach is None:
            return None
        (left, top, right, bottom), (x0, x1, y0, y1) = box, reach
        return (max(left, int(self.columns.lo[x0])), max(top, int(self.rows.lo[y0])),
                min(right, int(self.columns.hi[x1 - 1])), min(bottom, int(self.rows.hi[y1 - 1])))

    def apply(self, planes: np.ndarray, box: Box):
        """resize(planes) where `planes` (C x h x w, zero outside `box`) covers the image's `box`.

        Returns (rows, columns, C x rows x columns values) of the view, or None when the box is
        outside what the model sees.
        """
        reach = self.reach(box)
        if reach is None:
            return None
        (left, top, right, bottom), (x0, x1, y0, y1) = box, reach
        across = self.columns.apply(planes, left, right, x0, x1)
        values = self.rows.apply(across.swapaxes(-1, -2), top, bottom, y0, y1).swapaxes(-1, -2)
        return slice(y0, y1), slice(x0, x1), values
