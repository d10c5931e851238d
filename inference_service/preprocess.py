"""Pure preprocessing: image and mask bytes in, the model's input array out."""

from __future__ import annotations

import bisect
import functools
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from inference_service.errors import InvalidArgument
from inference_service.masks import Box, Mask, read_mask

# The ImageNet mean colour, (0.485, 0.456, 0.406) * 255: the least informative grey for the model.
IMAGENET_MEAN_RGB = (124, 116, 104)

FILLS = ("gray", "black", "blur", "noise", "inpaint")
# Resizing the shorter side to ~256 px would make a 1,000,000 x 2 strip gigabytes large.
MAX_ASPECT_RATIO = 50

# Our own pixel limit (checked from the header, before decoding) replaces PIL's global one, so the
# error can say what the limit is, and the limit is the server's --max-image-pixels.
Image.MAX_IMAGE_PIXELS = None

_RESAMPLING = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


@dataclass(frozen=True)
class Preprocessing:
    """A model's eval transforms: resize the shorter side, centre-crop, normalise."""

    resize: int
    crop: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @functools.cached_property
    def std_255(self) -> np.ndarray:
        """std on 0-255 pixel values, 3 x 1 x 1."""
        return np.asarray(self.std, np.float32).reshape(3, 1, 1) * 255

    def __post_init__(self):
        if self.interpolation not in _RESAMPLING:
            raise ValueError(f"unknown interpolation {self.interpolation!r}; use one of {sorted(_RESAMPLING)}")
        if self.crop > self.resize:
            raise ValueError(f"crop {self.crop} is larger than resize {self.resize}")


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Decodes an uploaded image to an H x W x 3 uint8 RGB array, upright per its EXIF orientation.

    The pixel count is checked from the header, before any pixel is decoded.
    """
    if not data:
        raise InvalidArgument("image is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's warnings about odd files; errors are what count
        try:
            image = Image.open(io.BytesIO(data))
        except Exception as exc:
            raise InvalidArgument(f"image could not be read as PNG, JPEG, WebP or another image format ({exc})") from None
        width, height = image.size
        if width * height > max_pixels:
            raise InvalidArgument(f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}")
        if width < 1 or height < 1:
            raise InvalidArgument(f"image is {width}x{height}; it needs at least one pixel")
        if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
            raise InvalidArgument(f"image is {width}x{height}; its sides may differ by a factor of at most "
                                  f"{MAX_ASPECT_RATIO}")
        try:
            image.seek(0)  # animated images: the first frame
            image = ImageOps.exif_transpose(image)
            return _to_rgb_array(image)
        except InvalidArgument:
            raise
        except Exception as exc:
            raise InvalidArgument(f"image is damaged or truncated and could not be decoded ({exc})") from None


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # High bit depth grey: PIL's convert("RGB") would clip it, so scale to 8 bits ourselves.
        values = np.asarray(image, dtype=np.float64)
        if image.mode == "F":
            low, high = float(np.nanmin(values)), float(np.nanmax(values))
            scaled = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
        else:
            scaled = values / 257.0 if values.max(initial=0) > 255 else values
        grey = np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def noise_seed(image_id: str) -> int:
    """A seed derived from the image, so a noise fill is the same on every request for it."""
    return int(image_id[:16], 16) if image_id else 0


def fill_image(rgb: np.ndarray, fill: str, seed: int = 0) -> np.ndarray:
    """What painted pixels become: an array of the image's shape (or one broadcastable pixel)."""
    if fill == "gray":
        return np.array(IMAGENET_MEAN_RGB, dtype=np.uint8)
    if fill == "black":
        return np.zeros(3, dtype=np.uint8)
    if fill == "blur":
        # Strong enough that objects become unrecognisable, scaled to the image size.
        radius = max(2.0, 0.05 * max(rgb.shape[:2]))
        return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius)))
    if fill == "noise":
        return np.random.default_rng(seed).integers(0, 256, size=rgb.shape, dtype=np.uint8)
    if fill == "inpaint":
        raise ValueError("the inpaint fill depends on the mask: see inference_service.inpaint")
    raise InvalidArgument(f"unknown fill {fill!r}; use one of {', '.join(FILLS)}")


def apply_mask(rgb: np.ndarray, painted: np.ndarray, fill: np.ndarray, keep_painted: bool = False) -> np.ndarray:
    """Replaces painted pixels (or, with keep_painted, all the others) by the fill, at full resolution.

    The serving path gets the same result from cached `model_view`s and a mask's change (`masked_input`).
    """
    hidden = ~painted if keep_painted else painted
    return np.where(hidden[:, :, None], fill, rgb).astype(np.uint8, copy=False)


def resized_size(width: int, height: int, shorter_side: int) -> tuple[int, int]:
    """The (width, height) that torchvision's Resize(int) gives: shorter side fixed, aspect kept."""
    if width <= height:
        return shorter_side, int(shorter_side * height / width)
    return int(shorter_side * width / height), shorter_side


def source_crop_box(width: int, height: int, spec: Preprocessing) -> tuple[float, float, float, float]:
    """The centre crop that the model sees, as (left, top, right, bottom) in the original image's pixels."""
    new_w, new_h = resized_size(width, height, spec.resize)
    top = int(round((new_h - spec.crop) / 2.0))
    left = int(round((new_w - spec.crop) / 2.0))
    scale_x, scale_y = width / new_w, height / new_h
    return (left * scale_x, top * scale_y, (left + spec.crop) * scale_x, (top + spec.crop) * scale_y)


def _resized_crop(plane: Image.Image, spec: Preprocessing) -> np.ndarray:
    # Resizing only the crop's source box gives exactly resize-then-crop (same scale, same filter
    # taps), for a third of the work.
    box = source_crop_box(plane.width, plane.height, spec)
    return np.asarray(plane.resize((spec.crop, spec.crop), _RESAMPLING[spec.interpolation], box=box),
                      dtype=np.float32)


def model_view(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """Resize, centre-crop and normalise, as torchvision's eval transforms do: a 3 x crop x crop float32.

    Resizing happens in float, per channel, so it is torchvision's result before its rounding to uint8.
    """
    if rgb.ndim == 1:  # one colour for every pixel (a gray or black fill)
        pixels = rgb.astype(np.float32).reshape(3, 1, 1)
    else:
        pixels = np.stack([_resized_crop(Image.fromarray(np.ascontiguousarray(rgb[:, :, c])).convert("F"), spec)
                           for c in range(3)])
    return normalise(pixels, spec)


def normalise(pixels: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """0-255 pixel values (3 x H x W, or broadcastable) to the model's normalised input."""
    mean = np.asarray(spec.mean, np.float32).reshape(3, 1, 1) * 255
    return (pixels - mean) / spec.std_255


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


def difference_in(rgb: np.ndarray, fill: np.ndarray, box: Box) -> np.ndarray:
    """fill - image inside `box`, per channel (3 x h x w float32): what painting a pixel adds to it."""
    left, top, right, bottom = box
    pixels = rgb[top:bottom, left:right]
    out = np.empty((3, bottom - top, right - left), np.float32)
    for c in range(3):  # channel by channel: no H x W x 3 float copy to transpose
        np.subtract(fill[c] if fill.ndim == 1 else fill[top:bottom, left:right, c], pixels[:, :, c], out=out[c],
                    dtype=np.float32)
    return out


# A change within 1/SMALL_CHANGE of the photo is built on the earlier mask without a second look.
SMALL_CHANGE = 16


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def masked_input(image_view: np.ndarray, fill_view, difference, mask: bytes, keep_painted: bool,
                 spec: Preprocessing, resize: ViewResize, width: int, height: int,
                 recent=()) -> tuple[np.ndarray, Mask | None]:
    """One request's model input from the image's cached views: only the mask is new work.

    Equals resizing the image masked at full size (the reference transforms): since resizing is
    linear, resize(image + painted * (fill - image)) = view(image) + resize(painted * (fill - image)),
    and with keep_painted, view(fill) + resize(painted * (image - fill)). `fill_view()` is called
    only when needed, `difference(box)` gives fill - image in a box (see `difference_in`).

    `recent` holds (mask, input) pairs made earlier with the same image and settings: a painting
    session's next mask usually differs from one of them by a stroke, and only that stroke's
    difference is then computed. Returns the input and the decoded mask (None when there is none).
    """
    if not mask and not keep_painted:
        return image_view, None
    if not mask:
        return np.array(np.broadcast_to(fill_view(), (3, spec.crop, spec.crop)), dtype=np.float32), None
    painted = read_mask(mask, width, height)
    # Built on the recent mask that differs in the fewest bytes (a box per candidate cost more
    # than the counts), unless the image alone needs fewer, or the recent one's changed box is
    # larger than the painted one's (two strokes far apart differ in few bytes but span the photo).
    # Every candidate is counted: painters who share a photo share its recent masks, and stopping
    # at the first that differed by a stroke's worth often built on another painter's mask (16
    # clients on 5 photos: 0.8 instead of 0.4 ms a mask).
    start, before, fewest = None, None, painted.differing_bytes()
    for earlier, earlier_input in recent:
        differing = painted.differing_bytes(earlier)
        if differing == 0:
            return earlier_input, painted  # the very same mask
        if differing < fewest:
            start, before, fewest = earlier_input, earlier, differing
    if before is None:
        box = painted.box()
    else:
        box = painted.changed_box(before)
        if _area(box) > width * height // SMALL_CHANGE:  # the painted box may be smaller: look (a box costs)
            own = painted.box()
            if _area(own) < _area(box):
                box, start, before = own, None, None
    if start is None:
        start = np.broadcast_to(fill_view() if keep_painted else image_view, (3, spec.crop, spec.crop))
    out = np.array(start, dtype=np.float32)
    box = None if box is None else resize.trim(box)
    if box is not None:
        weights = painted.weights(box) if before is None else painted.weights(box) - before.weights(box)
        planes = difference(box)
        planes *= weights
        change = resize.apply(planes, box)
        if change is not None:
            rows, columns, values = change
            values /= spec.std_255
            if keep_painted:
                out[:, rows, columns] -= values
            else:
                out[:, rows, columns] += values
    return out, painted


def to_model_input(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """The model input for a whole (already masked, or unmasked) image."""
    return np.ascontiguousarray(model_view(rgb, spec))
