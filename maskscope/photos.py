"""Photos and masks as scripts hold them (paths, bytes, PIL images, numpy arrays), as the service takes them."""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

EXIF_ORIENTATION = 0x0112
# EXIF orientations 5 to 8 turn the photo a quarter: the server sees its width and height swapped.
QUARTER_TURNS = frozenset({5, 6, 7, 8})
PHOTO_TYPES = ("a path (str or Path), the file's bytes, a PIL image, or a numpy array "
               "(H x W, H x W x 3 or H x W x 4; uint8, or floats in [0, 1])")
MASK_TYPES = "a numpy array (H x W; non-zero is painted), a PIL image, PNG bytes, or a path"
_PAINTED_LUT = [0] + [255] * 255


class PhotoError(ValueError):
    """A photo or mask the service would refuse, refused before anything is sent; the message says why."""


@dataclass(frozen=True)
class Photo:
    """A photo as the service receives it: its file's bytes, and its size as the server decodes
    it (upright, after EXIF orientation), which a mask must match."""

    data: bytes
    width: int
    height: int

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def photo_id(data: bytes) -> str:
    """The id the service gives a photo's file: a SHA-256 of its bytes, unguessable without the
    photo (the web app routes a photo's calls by it before the service has seen it)."""
    return hashlib.sha256(data).hexdigest()


def as_photo(photo) -> Photo:
    """A path or bytes are sent as they are; a PIL image or an array is sent as a PNG of its RGB
    pixels, as it shows (a PIL image's own EXIF orientation is not applied). Arrays: uint8 (or other
    integers in 0..255), or floats in [0, 1]; a fourth channel (alpha) is dropped, as PIL's
    convert("RGB") drops it; bool arrays are refused (a mask passed as the photo?)."""
    if isinstance(photo, Photo):
        return photo
    if isinstance(photo, (str, Path)):
        return photo_from_file(Path(photo).read_bytes())
    if isinstance(photo, (bytes, bytearray, memoryview)):
        return photo_from_file(bytes(photo))
    if isinstance(photo, Image.Image):
        rgb = photo if photo.mode == "RGB" else photo.convert("RGB")
        return Photo(png(rgb), *rgb.size)
    if isinstance(photo, np.ndarray):
        return as_photo(Image.fromarray(rgb_pixels(photo)))
    raise TypeError(f"photo is a {type(photo).__name__}; give {PHOTO_TYPES}")


def photo_from_file(data: bytes) -> Photo:
    """The file's bytes, with the size the server will decode (from the header and EXIF orientation)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's warnings about odd files; the server reads them the same
        try:
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            turned = image.getexif().get(EXIF_ORIENTATION, 1) in QUARTER_TURNS
        except Exception as exc:
            raise PhotoError(f"photo could not be read as PNG, JPEG, WebP or another image format ({exc})") from None
    return Photo(data, *((height, width) if turned else (width, height)))


def rgb_pixels(array: np.ndarray) -> np.ndarray:
    """H x W or H x W x 3 uint8 of a photo array (see `as_photo` for what is accepted)."""
    if array.dtype == bool:
        raise TypeError("photo is a bool array (a mask?); give its pixels: uint8, or floats in [0, 1]")
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)) or array.size == 0:
        raise PhotoError(f"photo array has shape {array.shape}; give H x W, H x W x 3 or H x W x 4")
    if np.issubdtype(array.dtype, np.floating):
        low, high = float(np.min(array)), float(np.max(array))
        if not (0 <= low and high <= 1):  # NaN fails both: refused too
            raise PhotoError(f"photo array holds floats from {low} to {high}; floats must be in [0, 1] "
                             "(or give uint8 pixels in 0..255)")
        return np.round(array * 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(np.min(array)), int(np.max(array))
        if low < 0 or high > 255:
            raise PhotoError(f"photo array holds integers from {low} to {high}; pixels must be in 0..255")
        return np.ascontiguousarray(array, dtype=np.uint8)
    raise TypeError(f"photo array has dtype {array.dtype}; give uint8 pixels, or floats in [0, 1]")


def upright_rgb(photo: Photo) -> Image.Image:
    """The photo's pixels as the server sees them: upright, RGB."""
    return ImageOps.exif_transpose(Image.open(io.BytesIO(photo.data))).convert("RGB")


def mask_bits(mask, size: tuple[int, int]) -> np.ndarray:
    """The mask as H x W bool, True where painted; a mask that is not `size` (width, height) is refused."""
    painted = _painted(mask)
    if painted.shape != (size[1], size[0]):
        raise PhotoError(f"mask is {painted.shape[1]}x{painted.shape[0]} but the image is {size[0]}x{size[1]}; "
                         "they must be the same size")
    return painted


def _painted(mask) -> np.ndarray:
    if isinstance(mask, np.ndarray):
        if not (mask.dtype == bool or np.issubdtype(mask.dtype, np.number)):
            raise TypeError(f"mask array has dtype {mask.dtype}; give bool, or numbers (non-zero is painted)")
        if mask.ndim != 2:
            raise PhotoError(f"mask array has shape {mask.shape}; give H x W (non-zero is painted)")
        return mask != 0
    if isinstance(mask, (str, Path)):
        mask = Path(mask).read_bytes()
    if isinstance(mask, (bytes, bytearray, memoryview)):
        try:
            mask = Image.open(io.BytesIO(bytes(mask)))
            mask.load()
        except Exception as exc:
            raise PhotoError(f"mask could not be read as a PNG image ({exc})") from None
    if isinstance(mask, Image.Image):
        return np.asarray(painted_plane(mask)) != 0
    raise TypeError(f"mask is a {type(mask).__name__}; give {MASK_TYPES}")


def painted_plane(mask: Image.Image) -> Image.Image:
    """The contract's rule, as an "L" image, 255 where painted and 0 elsewhere: a pixel is painted
    where its alpha is non-zero or, for masks without alpha, where its luminance is."""
    if mask.mode == "1":
        return mask.convert("L")
    if mask.mode == "P":
        mask = mask.convert("RGBA" if "transparency" in mask.info else "RGB")
    plane = mask.getchannel("A") if "A" in mask.getbands() else mask.convert("L")
    return plane.point(_PAINTED_LUT)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# IHDR's bit depth, colour type, compression, filter method and interlace for what the page sends.
ONE_BIT_GREY = (1, 0, 0, 0, 0)


def one_bit_png(bits: np.ndarray, width: int, height: int) -> bytes:
    """Packed rows (np.packbits along each row) as a 1-bit greyscale PNG with unfiltered rows: what
    the page sends, and what the service reads with zlib alone (PIL's encoder filters rows)."""
    rows = np.zeros((height, bits.shape[1] + 1), np.uint8)
    rows[:, 1:] = bits

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">II", width, height) + bytes(ONE_BIT_GREY)
    return (PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes()))
            + chunk(b"IEND", b""))


def mask_png(painted: np.ndarray) -> bytes:
    """H x W bool as a 1-bit PNG, white where painted; empty when nothing is (the contract's 'no mask')."""
    painted = np.asarray(painted) != 0
    return one_bit_png(np.packbits(painted, axis=1), painted.shape[1], painted.shape[0]) if painted.any() else b""


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
