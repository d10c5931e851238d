"""Masks as packed bits: the page's PNGs read without PIL, every other PNG through it, boxes and changes."""

import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from inference_service.errors import InvalidArgument
from inference_service.pipeline.masks import Mask, _unfiltered_one_bit_png, decode_mask, encode_png, read_mask
from tests.conftest import png_bytes


def random_mask(rng, height, width, density=0.3) -> np.ndarray:
    return rng.random((height, width)) < density


def reference_box(painted: np.ndarray):
    rows, columns = np.flatnonzero(painted.any(axis=1)), np.flatnonzero(painted.any(axis=0))
    if not rows.size:
        return None
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def one_bit_png(width: int, height: int, rows: bytes, crc_ok: bool = True) -> bytes:
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
    if not crc_ok:
        header = header[:-4] + bytes(4)
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")


@pytest.mark.parametrize("width", [1, 7, 8, 9, 17, 600])
def test_the_pages_pngs_are_read_without_pil_and_match_pil(width):
    rng = np.random.default_rng(width)
    painted = random_mask(rng, 13, width)
    data = encode_png(painted)
    assert _unfiltered_one_bit_png(data, width, 13) is not None  # the fast path took it
    np.testing.assert_array_equal(read_mask(data, width, 13).to_array(), painted)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("L")) > 0, painted)


def test_padding_bits_past_the_width_are_ignored():
    # 3 pixels wide: one byte per row, of which 5 bits are padding, here set (PNG leaves them undefined).
    rows = bytes([0, 0b01011111, 0, 0b00011111])
    mask = read_mask(one_bit_png(3, 2, rows), 3, 2)
    np.testing.assert_array_equal(mask.to_array(), [[False, True, False], [False, False, False]])
    assert mask.box() == (1, 0, 2, 1)
    assert mask.changed_box(Mask.from_array(np.zeros((2, 3), bool))) == (1, 0, 2, 1)


@pytest.mark.parametrize("kind", ["one-bit with filtered rows", "alpha", "luminance", "palette"])
def test_other_pngs_go_through_pil_with_the_same_meaning(kind):
    rng = np.random.default_rng(1)
    painted = random_mask(rng, 40, 50)
    if kind == "one-bit with filtered rows":  # what PIL writes: adaptive filters
        data = png_bytes(painted)
        assert _unfiltered_one_bit_png(data, 50, 40) is None
    elif kind == "alpha":
        rgba = np.zeros((40, 50, 4), np.uint8)
        rgba[painted, 3] = 255
        rgba[~painted, :3] = 255  # colour does not count where alpha is 0
        data = png_bytes(rgba)
    elif kind == "luminance":
        data = png_bytes(np.where(painted, 200, 0).astype(np.uint8))
    else:
        image = Image.fromarray(painted.astype(np.uint8), "P")
        image.putpalette([0, 0, 0, 255, 255, 255])
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        data = buffer.getvalue()
    np.testing.assert_array_equal(read_mask(data, 50, 40).to_array(), painted)


def test_boxes_and_changes_match_numpy():
    rng = np.random.default_rng(2)
    for trial in range(200):
        height, width = rng.integers(1, 40, size=2)
        painted = np.zeros((height, width), bool)
        if trial % 5:  # some empty masks too
            top, left = rng.integers(0, height), rng.integers(0, width)
            painted[top:rng.integers(top, height) + 1, left:rng.integers(left, width) + 1] = rng.random() < 0.9
            painted &= random_mask(rng, height, width, 0.7)
        other = painted.copy()
        other[rng.integers(0, height), rng.integers(0, width)] ^= bool(trial % 3)
        a, b = Mask.from_array(painted), Mask.from_array(other)
        assert a.box() == reference_box(painted)
        assert a.changed_box(b) == reference_box(painted ^ other)
        box = reference_box(painted)
        if box is not None:
            left, top, right, bottom = box
            np.testing.assert_array_equal(a.weights(box), painted[top:bottom, left:right].astype(np.float32))


def test_wrong_size_says_both_sizes():
    with pytest.raises(InvalidArgument, match=r"mask is 5x4 but the image is 6x4"):
        read_mask(encode_png(np.zeros((4, 5), bool)), 6, 4)


@pytest.mark.parametrize("data", [
    one_bit_png(8, 2, bytes([0, 255, 0, 0]), crc_ok=False),
    one_bit_png(8, 2, bytes([0, 255, 0]))[:-20],  # cut short
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    b"definitely not a png",
])
def test_damaged_masks_are_a_clear_error(data):
    with pytest.raises(InvalidArgument, match="mask could not be read"):
        read_mask(data, 8, 2)


def test_a_mask_that_inflates_beyond_its_size_is_read_only_as_far_as_its_size():
    # 64 MB of zeros in ~64 KB: neither path inflates more than the header's 8 x 2 pixels.
    bomb = one_bit_png(8, 2, bytes(64 << 20))
    tracemalloc.start()
    try:
        assert _unfiltered_one_bit_png(bomb, 8, 2) is None
        assert tracemalloc.get_traced_memory()[1] < 1 << 20, "the fast path inflated the whole bomb"
    finally:
        tracemalloc.stop()
    mask = read_mask(bomb, 8, 2)
    assert (mask.width, mask.height) == (8, 2) and mask.box() is None


def encode(image: Image.Image, fmt="PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


class TestMask:
    def test_alpha_marks_painted_pixels(self):
        mask = np.zeros((4, 5, 4), np.uint8)
        mask[1, 2, 3] = 1  # alpha 1 is painted, whatever the colour
        mask[2, 3, :3] = 255  # a bright pixel with alpha 0 is not
        painted = np.asarray(decode_mask(png_bytes(mask), 5, 4)) > 0
        assert painted.shape == (4, 5)
        assert painted.sum() == 1 and painted[1, 2]

    def test_luminance_marks_painted_pixels_without_alpha(self):
        mask = np.zeros((4, 5), np.uint8)
        mask[3, 4] = 200
        painted = np.asarray(decode_mask(png_bytes(mask), 5, 4)) > 0
        assert painted.sum() == 1 and painted[3, 4]

    def test_palette_mask_with_transparency(self):
        image = Image.new("P", (6, 3), 0)
        image.putpalette([0, 0, 0, 255, 0, 0])
        image.putpixel((5, 2), 1)
        data = encode(image, transparency=0)
        painted = np.asarray(decode_mask(data, 6, 3)) > 0
        assert painted.sum() == 1 and painted[2, 5]

    def test_wrong_size_says_both_sizes(self):
        with pytest.raises(InvalidArgument, match=r"mask is 5x4 but the image is 6x4"):
            decode_mask(png_bytes(np.zeros((4, 5), np.uint8)), 6, 4)

    def test_not_an_image(self):
        with pytest.raises(InvalidArgument, match="mask could not be read"):
            decode_mask(b"definitely not a png", 5, 4)
