"""Pure preprocessing: image and mask bytes in, the model's input array out."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageFilter, ImageOps

from inference_service.errors import InvalidArgument

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


def decode_mask(data: bytes, width: int, height: int) -> Image.Image:
    """Decodes a mask to a width x height "L" image: 255 where painted, 0 elsewhere.

    A pixel is painted where its alpha is non-zero or, for masks without alpha, its luminance is.
    A 1-bit PNG (what the page sends) is the smallest and fastest to decode.
    """
    try:
        mask = Image.open(io.BytesIO(data))
        if mask.size != (width, height):
            raise InvalidArgument(f"mask is {mask.size[0]}x{mask.size[1]} but the image is {width}x{height}; "
                                  "they must be the same size")
        if mask.mode == "1":
            return mask.convert("L")
        if mask.mode == "P":
            mask = mask.convert("RGBA" if "transparency" in mask.info else "RGB")
        plane = mask.getchannel("A") if "A" in mask.getbands() else mask.convert("L")
        return plane.point(_PAINTED_LUT)
    except InvalidArgument:
        raise
    except Exception as exc:
        raise InvalidArgument(f"mask could not be read as a PNG image ({exc})") from None


_PAINTED_LUT = [0] + [255] * 255


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

    The serving path gets the same result from `model_view`s and `blend` (see `masked_input`).
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
    std = np.asarray(spec.std, np.float32).reshape(3, 1, 1) * 255
    return (pixels - mean) / std


def difference_planes(rgb: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """fill - image, per channel (3 x H x W float32): what painting a pixel adds to it."""
    return np.ascontiguousarray((np.broadcast_to(fill, rgb.shape).astype(np.float32) - rgb).transpose(2, 0, 1))


def _filter_support(scale: float, interpolation: str) -> float:
    # PIL widens its filter by the scale when it shrinks an image.
    return {"nearest": 0.5, "bilinear": 1.0, "bicubic": 2.0}[interpolation] * max(scale, 1.0)


def painted_change(weights, bbox, width: int, height: int, difference: np.ndarray, spec: Preprocessing):
    """resize(weights * difference) on the part of the model's view that the weights reach.

    `weights(left, top, right, bottom)` gives the weights (how much each pixel is painted, from -1
    to 1) in that box of the image; `bbox` bounds the non-zero ones. Returns (rows, columns,
    3 x h x w values) or None: the cost grows with the painted area, not with the image.
    """
    if bbox is None:
        return None
    box = source_crop_box(width, height, spec)
    scale_x, scale_y = (box[2] - box[0]) / spec.crop, (box[3] - box[1]) / spec.crop
    support_x = _filter_support(scale_x, spec.interpolation)
    support_y = _filter_support(scale_y, spec.interpolation)
    # Output pixels whose filter taps reach the painted box.
    x0 = max(0, int(np.floor((bbox[0] - support_x - box[0]) / scale_x)) - 1)
    x1 = min(spec.crop, int(np.ceil((bbox[2] + support_x - box[0]) / scale_x)) + 1)
    y0 = max(0, int(np.floor((bbox[1] - support_y - box[1]) / scale_y)) - 1)
    y1 = min(spec.crop, int(np.ceil((bbox[3] + support_y - box[1]) / scale_y)) + 1)
    if x0 >= x1 or y0 >= y1:
        return None  # painted outside what the model sees
    sub = (box[0] + x0 * scale_x, box[1] + y0 * scale_y, box[0] + x1 * scale_x, box[1] + y1 * scale_y)
    # The source region those outputs read, with a margin so that no tap is cut short except at
    # the image's own edges (PIL renormalises cut-short filters).
    left = max(0, int(np.floor(sub[0] - support_x)) - 2)
    top = max(0, int(np.floor(sub[1] - support_y)) - 2)
    right = min(width, int(np.ceil(sub[2] + support_x)) + 2)
    bottom = min(height, int(np.ceil(sub[3] + support_y)) + 2)
    painted = weights(left, top, right, bottom)
    shifted = (sub[0] - left, sub[1] - top, sub[2] - left, sub[3] - top)
    resample = _RESAMPLING[spec.interpolation]
    values = np.stack([
        np.asarray(Image.fromarray(difference[c, top:bottom, left:right] * painted, "F")
                   .resize((x1 - x0, y1 - y0), resample, box=shifted), dtype=np.float32)
        for c in range(3)])
    return slice(y0, y1), slice(x0, x1), values


def _mask_weights(mask: Image.Image):
    return lambda *box: np.asarray(mask.crop(box), dtype=np.float32) * np.float32(1 / 255)


def _delta_weights(mask: Image.Image, before: Image.Image):
    def weights(*box):
        now = np.asarray(mask.crop(box), dtype=np.float32)
        return (now - np.asarray(before.crop(box), dtype=np.float32)) * np.float32(1 / 255)
    return weights


def _area(bbox) -> int:
    return 0 if bbox is None else (bbox[2] - bbox[0]) * (bbox[3] - bbox[1])


def masked_input(image_view: np.ndarray, fill_view, difference, mask: bytes, keep_painted: bool,
                 spec: Preprocessing, width: int, height: int, recent=()) -> tuple[np.ndarray, Image.Image | None]:
    """One request's model input from the image's cached views: only the mask is new work.

    Equals resizing the image masked at full size (the reference transforms): since resizing is
    linear, resize(image + painted * (fill - image)) = view(image) + resize(painted * (fill - image)),
    and with keep_painted, view(fill) + resize(painted * (image - fill)). `fill_view()` and
    `difference()` (fill - image, 3 x H x W) are called only when needed; a cache keeps them.

    `recent` holds (mask, input) pairs made earlier with the same image and settings: a painting
    session's next mask usually differs from one of them by a stroke, and only that stroke's
    difference is then computed. Returns the input and the decoded mask (None when there is none).
    """
    if not mask and not keep_painted:
        return image_view, None
    if not mask:
        return np.array(np.broadcast_to(fill_view(), (3, spec.crop, spec.crop)), dtype=np.float32), None
    painted = decode_mask(mask, width, height)
    start, weights, bbox = None, _mask_weights(painted), painted.getbbox()
    for before, before_input in recent:
        changed = ImageChops.difference(painted, before).getbbox()
        if changed is None:
            return before_input, painted  # the very same mask
        if _area(changed) < _area(bbox):
            start, weights, bbox = before_input, _delta_weights(painted, before), changed
    if start is None:
        start = np.broadcast_to(fill_view() if keep_painted else image_view, (3, spec.crop, spec.crop))
    out = np.array(start, dtype=np.float32)
    change = painted_change(weights, bbox, width, height, difference(), spec)
    if change is not None:
        rows, columns, values = change
        std = np.asarray(spec.std, np.float32).reshape(3, 1, 1) * 255
        out[:, rows, columns] += (-values if keep_painted else values) / std
    return out, painted


def to_model_input(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """The model input for a whole (already masked, or unmasked) image."""
    return np.ascontiguousarray(model_view(rgb, spec))
