"""A photo's regions: superpixels (OpenCV's SLIC), computed once per photo, for hiding a whole
region at a time."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from inference_service.errors import FailedPrecondition

TARGET_REGIONS = 150  # about as many as a person taps through on a photo, and few enough to see
MAX_REGIONS = 255     # they travel as an 8-bit PNG
WORK_SIDE = 640       # regions are found on the photo scaled to at most this side, then scaled back


def regions(rgb: np.ndarray) -> np.ndarray:
    """An H x W uint8 array: each pixel's region number, 0 .. count - 1."""
    try:
        import cv2
    except ImportError:
        raise FailedPrecondition("regions need OpenCV's contrib modules on the server: "
                                 "pip install opencv-contrib-python-headless") from None
    if not hasattr(cv2, "ximgproc"):
        raise FailedPrecondition("regions need OpenCV's contrib modules (cv2.ximgproc): "
                                 "pip install opencv-contrib-python-headless")
    height, width = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(width, height))
    small = rgb if scale == 1.0 else np.asarray(Image.fromarray(rgb).resize(
        (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR))
    lab = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2LAB)
    side = max(4, round(math.sqrt(small.shape[0] * small.shape[1] / TARGET_REGIONS)))
    slic = cv2.ximgproc.createSuperpixelSLIC(lab, algorithm=cv2.ximgproc.SLICO, region_size=side)
    slic.iterate(10)
    slic.enforceLabelConnectivity(25)
    labels = slic.getLabels()
    _, labels = np.unique(labels, return_inverse=True)  # numbered 0 .. count - 1, in order
    labels = labels.reshape(small.shape[:2])
    if labels.max() >= MAX_REGIONS:  # merge the highest numbers into the last region
        labels = np.minimum(labels, MAX_REGIONS - 1)
    labels = labels.astype(np.uint8)
    if scale != 1.0:
        labels = np.asarray(Image.fromarray(labels).resize((width, height), Image.Resampling.NEAREST))
    return labels


def labels_png(labels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(labels, "L").save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue()
