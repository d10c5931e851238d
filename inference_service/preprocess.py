"""Pure preprocessing: image and mask bytes in, the model's input array out."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from inference_service.errors import InvalidArgument

# The ImageNet mean colour, (0.485, 0.456, 0.406) * 255: the least informative grey for the model.
IMAGENET_MEAN_RGB = (124, 116, 104)

FILLS = ("gray", "black", "blur", "noise")
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


def decode_mask(data: bytes, width: int, height: int) -> np.ndarray:
    """Decodes a mask to an H x W bool array: True where painted.

    A pixel is painted where its alpha is non-zero or, for masks without alpha, its luminance is.
    """
    try:
        mask = Image.open(io.BytesIO(data))
        if mask.size != (width, height):
            raise InvalidArgument(f"mask is {mask.size[0]}x{mask.size[1]} but the image is {width}x{height}; "
                                  "they must be the same size")
        if mask.mode == "P":
            mask = mask.convert("RGBA" if "transparency" in mask.info else "RGB")
        if "A" in mask.getbands():
            return np.asarray(mask.getchannel("A")) > 0
        return np.asarray(mask.convert("L")) > 0
    except InvalidArgument:
        raise
    except Exception as exc:
        raise InvalidArgument(f"mask could not be read as a PNG image ({exc})") from None


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
    raise InvalidArgument(f"unknown fill {fill!r}; use one of {', '.join(FILLS)}")


def apply_mask(rgb: np.ndarray, painted: np.ndarray, fill: np.ndarray, keep_painted: bool = False) -> np.ndarray:
    """Replaces painted pixels (or, with keep_painted, all the others) by the fill."""
    hidden = ~painted if keep_painted else painted
    return np.where(hidden[:, :, None], fill, rgb).astype(np.uint8, copy=False)


def resized_size(width: int, height: int, shorter_side: int) -> tuple[int, int]:
    """The (width, height) that torchvision's Resize(int) gives: shorter side fixed, aspect kept."""
    if width <= height:
        return shorter_side, int(shorter_side * height / width)
    return int(shorter_side * width / height), shorter_side


def to_model_input(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """Resize, centre-crop and normalise, as torchvision's eval transforms do: a 3 x crop x crop float32."""
    height, width = rgb.shape[:2]
    new_w, new_h = resized_size(width, height, spec.resize)
    image = Image.fromarray(rgb).resize((new_w, new_h), _RESAMPLING[spec.interpolation])
    top = int(round((new_h - spec.crop) / 2.0))
    left = int(round((new_w - spec.crop) / 2.0))
    image = image.crop((left, top, left + spec.crop, top + spec.crop))
    pixels = np.asarray(image, dtype=np.float32) * np.float32(1 / 255)
    normalised = (pixels - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))


def preprocess(rgb: np.ndarray, mask: bytes, fill_pixels: np.ndarray, keep_painted: bool,
               spec: Preprocessing) -> np.ndarray:
    """The whole path for one request on a decoded image: mask at full resolution, then transforms."""
    if mask:
        painted = decode_mask(mask, rgb.shape[1], rgb.shape[0])
        rgb = apply_mask(rgb, painted, fill_pixels, keep_painted)
    elif keep_painted:
        # Nothing painted and "keep only what I painted": nothing is kept.
        rgb = np.broadcast_to(fill_pixels, rgb.shape).astype(np.uint8)
    return to_model_input(rgb, spec)
