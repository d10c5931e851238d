"""Pure preprocessing: image and mask bytes in, the model's input array out."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from inference_service.errors import InvalidArgument
from inference_service.runtimes.metadata import Preprocessing
from maskscope.fills import COLOURS
from maskscope.fills import NAMES as FILLS
from maskscope.limits import MAX_ASPECT_RATIO

IMAGENET_MEAN_RGB = COLOURS["gray"]
# ImageNet's normalisation (torchvision's), on 0..1 pixels.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Resizing the shorter side to ~256 px would make a 1,000,000 x 2 strip gigabytes large: hence
# MAX_ASPECT_RATIO (maskscope/limits.py).
EXIF_ORIENTATION = 0x0112

# Our own pixel limit (checked from the header, before decoding) replaces PIL's global one, so the
# error can say what the limit is, and the limit is the server's --max-image-pixels.
Image.MAX_IMAGE_PIXELS = None

_RESAMPLING = {  # a model's interpolation (runtimes.metadata.INTERPOLATIONS) as PIL's
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


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
            if image.getexif().get(EXIF_ORIENTATION, 1) != 1:  # exif_transpose would copy upright ones too
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
    # convert() copies even an image that is RGB already: read those as they are.
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8)


def noise_seed(image_id: str) -> int:
    """A seed derived from the image, so a noise fill is the same on every request for it."""
    return int(image_id[:16], 16) if image_id else 0


def fill_image(rgb: np.ndarray, fill: str, seed: int = 0) -> np.ndarray:
    """What painted pixels become: an array of the image's shape (or one broadcastable pixel)."""
    if fill in COLOURS:
        return np.array(COLOURS[fill], dtype=np.uint8)
    if fill == "blur":
        # Strong enough that objects become unrecognisable, scaled to the image size.
        radius = max(2.0, 0.05 * max(rgb.shape[:2]))
        return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius)))
    if fill == "noise":
        return np.random.default_rng(seed).integers(0, 256, size=rgb.shape, dtype=np.uint8)
    if fill in ("inpaint", "impute"):
        raise ValueError(f"the {fill} fill depends on the mask: see inference_service.pipeline.inpaint")
    raise InvalidArgument(f"unknown fill {fill!r}; use one of {', '.join(FILLS)}")


def apply_mask(rgb: np.ndarray, painted: np.ndarray, fill: np.ndarray, keep_painted: bool = False) -> np.ndarray:
    """Replaces painted pixels (or, with keep_painted, all the others) by the fill, at full resolution.

    `fill` is one colour (3 values) or an image of the photo's shape.
    """
    hidden = ~painted if keep_painted else painted
    out = rgb.copy()
    out[hidden] = fill if fill.ndim == 1 else fill[hidden]
    return out


def resized_size(width: int, height: int, shorter_side: int) -> tuple[int, int]:
    """The (width, height) that torchvision's Resize(int) gives: shorter side fixed, aspect kept."""
    if width <= height:
        return shorter_side, int(shorter_side * height / width)
    return int(shorter_side * width / height), shorter_side


def crop_offset(width: int, height: int, crop: int) -> tuple[int, int]:
    """(left, top) of a centre crop of a width x height image, as torchvision's CenterCrop takes it
    (half pixels rounded to even, Python's round; the page's cropBox does the same)."""
    return int(round((width - crop) / 2.0)), int(round((height - crop) / 2.0))


def source_crop_box(width: int, height: int, spec: Preprocessing) -> tuple[float, float, float, float]:
    """The centre crop that the model sees, as (left, top, right, bottom) in the original image's pixels."""
    new_w, new_h = resized_size(width, height, spec.resize)
    left, top = crop_offset(new_w, new_h, spec.crop)
    scale_x, scale_y = width / new_w, height / new_h
    return (left * scale_x, top * scale_y, (left + spec.crop) * scale_x, (top + spec.crop) * scale_y)


# How far PIL's filters reach, in input pixels at scale 1 (libImaging/Resample.c; nearest samples one).
_FILTER_SUPPORT = {"bilinear": 1.0, "bicubic": 2.0, "nearest": 0.5}


def view_reach(width: int, height: int, spec: Preprocessing) -> tuple[int, int, int, int]:
    """The part (left, top, right, bottom) of a width x height image that the model's view reads:
    the centre crop's source box, widened by the resampling filter's reach. Masking and resizing
    only this part gives the same view; the rest of the photo never reaches the model."""
    left, top, right, bottom = source_crop_box(width, height, spec)
    support = _FILTER_SUPPORT[spec.interpolation]
    margin_x = math.ceil(support * max(1.0, (right - left) / spec.crop)) + 2
    margin_y = math.ceil(support * max(1.0, (bottom - top) / spec.crop)) + 2
    return (max(0, math.floor(left) - margin_x), max(0, math.floor(top) - margin_y),
            min(width, math.ceil(right) + margin_x), min(height, math.ceil(bottom) + margin_y))


def model_view(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """Resize, centre-crop and normalise, as torchvision's eval transforms do: a 3 x crop x crop float32.

    Resizing happens in float, per channel, so it is torchvision's result before its rounding to uint8.
    """
    if rgb.ndim == 1:  # one colour for every pixel (a gray or black fill)
        return normalise(rgb.astype(np.float32).reshape(3, 1, 1), spec)
    height, width = rgb.shape[:2]
    left, top, right, bottom = view_reach(width, height, spec)
    return view_of_part(rgb[top:bottom, left:right], spec, width, height)


def view_of_part(part: np.ndarray, spec: Preprocessing, width: int, height: int) -> np.ndarray:
    """model_view of a width x height image from only its `view_reach` part."""
    x0, y0 = view_reach(width, height, spec)[:2]
    left, top, right, bottom = source_crop_box(width, height, spec)
    # Resizing only the crop's source box gives exactly resize-then-crop (same scale, same taps).
    box = (left - x0, top - y0, right - x0, bottom - y0)
    resample = _RESAMPLING[spec.interpolation]
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(part[:, :, c])).convert("F").resize(
        (spec.crop, spec.crop), resample, box=box), dtype=np.float32) for c in range(3)]
    return normalise(np.stack(planes), spec)


def normalise(pixels: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """0-255 pixel values (3 x H x W, or broadcastable) to the model's normalised input."""
    mean = np.asarray(spec.mean, np.float32).reshape(3, 1, 1) * 255
    return (pixels - mean) / spec.std_255


def to_model_input(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """The model input for a whole (already masked, or unmasked) image."""
    return np.ascontiguousarray(model_view(rgb, spec))
