"""The inpaint fill: painted regions filled from their surroundings (OpenCV's Telea method).

Inpainting is not linear in the mask, so it cannot use the cached-view arithmetic of the other
fills. It runs at the size the model's resize makes (e.g. 256 px on the shorter side), where it
takes milliseconds, then the centre crop is taken as usual.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from inference_service.errors import FailedPrecondition
from inference_service.pipeline.preprocess import _RESAMPLING, crop_offset, normalise, resized_size
from inference_service.runtimes.metadata import Preprocessing

INPAINT_RADIUS_PX = 3  # the neighbourhood each filled pixel is taken from, at the model's scale


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
