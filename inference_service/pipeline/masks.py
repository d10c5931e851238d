"""Painting masks as packed bits: decoding, the painted box, what changed since another mask.

The page sends 1-bit greyscale PNGs with unfiltered rows (web_client/static/js/png.js); those are
read straight into packed bits with zlib and numpy, ~4x faster than through PIL. Any other PNG
(alpha, palette, filtered rows, interlaced) goes through PIL (`decode_mask`).
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from inference_service.errors import InvalidArgument
from maskscope.photos import ONE_BIT_GREY, PNG_SIGNATURE, one_bit_png, painted_plane

Box = tuple[int, int, int, int]  # left, top, right, bottom (right and bottom exclusive)


@dataclass(frozen=True, eq=False)
class Mask:
    """height x ceil(width / 8) bytes, the first pixel in the high bit; 1 = painted. Bits past
    the width are always 0, so masks compare byte by byte."""

    bits: np.ndarray
    width: int
    height: int

    @classmethod
    def from_array(cls, painted: np.ndarray) -> Mask:
        """From an H x W array, painted where non-zero."""
        return cls(np.packbits(np.asarray(painted) != 0, axis=1), painted.shape[1], painted.shape[0])

    def box(self) -> Box | None:
        """The smallest box holding every painted pixel, or None."""
        return _bits_box(self.bits)

    def changed_box(self, other: Mask) -> Box | None:
        """The smallest box holding every pixel painted in one mask but not the other, or None."""
        return _bits_box(self.bits ^ other.bits)

    def differing_bytes(self, other: Mask | None = None) -> int:
        """How many bytes differ from `other` (from a blank mask if None): cheap, where a box is not."""
        return int(np.count_nonzero(self.bits if other is None else self.bits ^ other.bits))

    def weights(self, box: Box) -> np.ndarray:
        """The box's pixels as float32: 1 painted, 0 not."""
        left, top, right, bottom = box
        first = left // 8
        unpacked = np.unpackbits(self.bits[top:bottom, first:(right + 7) // 8], axis=1)
        return unpacked[:, left - first * 8:right - first * 8].astype(np.float32)

    def to_array(self, box: Box | None = None) -> np.ndarray:
        """H x W bool (or only the part `box` of it)."""
        left, top, right, bottom = box or (0, 0, self.width, self.height)
        return np.unpackbits(self.bits[top:bottom], axis=1, count=right)[:, left:].astype(bool)


def _bits_box(bits: np.ndarray) -> Box | None:
    rows = np.flatnonzero(bits.any(axis=1))
    if not rows.size:
        return None
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    columns = np.bitwise_or.reduce(bits[top:bottom], axis=0)
    used = np.flatnonzero(columns)
    first, last = int(used[0]), int(used[-1])
    low_bit = int(columns[last]) & -int(columns[last])  # the last painted pixel of that byte
    return first * 8 + 8 - int(columns[first]).bit_length(), top, last * 8 + 8 - low_bit.bit_length() + 1, bottom


def read_mask(data: bytes, width: int, height: int) -> Mask:
    """Decodes a mask PNG (see `decode_mask` for what counts as painted)."""
    bits = _unfiltered_one_bit_png(data, width, height)
    if bits is None:
        return Mask.from_array(np.asarray(decode_mask(data, width, height)))
    return Mask(bits, width, height)


def decode_mask(data: bytes, width: int, height: int) -> Image.Image:
    """Decodes a mask to a width x height "L" image: 255 where painted, 0 elsewhere.

    A pixel is painted where its alpha is non-zero or, for masks without alpha, its luminance is
    (`maskscope.photos.painted_plane`, which the Python client reads masks with too).
    A 1-bit PNG (what the page sends) is the smallest and fastest to decode.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's warnings about odd files; errors are what count
        try:
            mask = Image.open(io.BytesIO(data))
            if mask.size != (width, height):
                raise InvalidArgument(f"mask is {mask.size[0]}x{mask.size[1]} but the image is {width}x{height}; "
                                      "they must be the same size")
            return painted_plane(mask)
        except InvalidArgument:
            raise
        except Exception as exc:
            raise InvalidArgument(f"mask could not be read as a PNG image ({exc})") from None


def _unfiltered_one_bit_png(data: bytes, width: int, height: int) -> np.ndarray | None:
    """The packed bits of a 1-bit greyscale PNG whose rows are all unfiltered, or None for any
    other PNG, and for anything damaged, which PIL then reads or explains."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    chunks, position, header = [], len(PNG_SIGNATURE), None
    while position + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, position)
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        if len(body) < length or position + 12 + length > len(data):
            return None
        (crc,) = struct.unpack_from(">I", data, position + 8 + length)
        if zlib.crc32(kind + body) != crc:
            return None
        if header is None:
            if kind != b"IHDR" or length != 13:
                return None
            header = struct.unpack(">IIBBBBB", body)
            if header[:2] != (width, height) or header[2:] != ONE_BIT_GREY:
                return None
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
        position += 12 + length
    row_bytes = (width + 7) // 8
    expected = height * (row_bytes + 1)
    try:
        # Bounded: a small file must not inflate to more than the image's own size.
        raw = zlib.decompressobj().decompress(b"".join(chunks), expected + 1)
    except zlib.error:
        return None
    if len(raw) != expected:
        return None
    if raw[::row_bytes + 1].strip(b"\0"):  # a row's filter type is not 0 (none): PIL undoes the filters
        return None
    bits = np.frombuffer(raw, np.uint8).reshape(height, row_bytes + 1)[:, 1:].copy()
    if width % 8:
        bits[:, -1] &= (0xFF << (8 - width % 8)) & 0xFF  # PNG leaves the padding bits undefined
    return bits


def encode_png(mask: Mask | np.ndarray) -> bytes:
    """A mask as the page sends it: a 1-bit greyscale PNG, rows unfiltered, white where painted."""
    if not isinstance(mask, Mask):
        mask = Mask.from_array(mask)
    return one_bit_png(mask.bits, mask.width, mask.height)

