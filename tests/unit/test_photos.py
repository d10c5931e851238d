"""Photos and masks as scripts hold them, turned into what the service takes (and read as the server reads them)."""

import io
import re

import numpy as np
import pytest
from PIL import Image

from inference_service.pipeline.masks import decode_mask, read_mask
from inference_service.pipeline.preprocess import decode_image
from maskscope.photos import Photo, PhotoError, as_photo, mask_bits, mask_png, painted_plane
from tests.conftest import png_bytes

RNG = np.random.default_rng(7)
PIXELS = RNG.integers(0, 256, (30, 40, 3), dtype=np.uint8)  # H x W x 3: a 40 x 30 photo


def served(photo: Photo) -> np.ndarray:
    """The photo's pixels as the server decodes them."""
    return decode_image(photo.data, 10**8)


def jpeg_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(PIXELS).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def test_paths_and_bytes_are_sent_as_they_are(tmp_path):
    data = png_bytes(PIXELS)
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    for photo in (path, str(path), data, bytearray(data), memoryview(data)):
        assert as_photo(photo) == Photo(data, 40, 30)


@pytest.mark.parametrize("orientation, size", [(1, (40, 30)), (3, (40, 30)), (6, (30, 40)), (8, (30, 40))])
def test_a_files_size_is_the_servers_after_exif_orientation(orientation, size):
    photo = as_photo(jpeg_with_orientation(orientation))
    assert photo.size == size
    assert served(photo).shape[:2] == (size[1], size[0])


def test_pil_images_are_sent_as_png_of_their_rgb_pixels():
    rgba = Image.fromarray(np.dstack([PIXELS, np.full((30, 40), 9, np.uint8)]))
    for image, expected in ((Image.fromarray(PIXELS), PIXELS), (rgba, PIXELS),
                            (Image.fromarray(PIXELS[:, :, 0]), np.repeat(PIXELS[:, :, :1], 3, axis=2))):
        photo = as_photo(image)
        assert photo.data.startswith(b"\x89PNG") and photo.size == (40, 30)
        np.testing.assert_array_equal(served(photo), expected)


@pytest.mark.parametrize("array, expected", [
    (PIXELS, PIXELS),
    (PIXELS[:, :, 0], np.repeat(PIXELS[:, :, :1], 3, axis=2)),
    (np.dstack([PIXELS, np.zeros((30, 40), np.uint8)]), PIXELS),  # alpha dropped
    (PIXELS.astype(np.int64), PIXELS),
    (PIXELS / 255.0, PIXELS),
    ((PIXELS / 255.0).astype(np.float32), PIXELS),
    (PIXELS[:, ::-1], PIXELS[:, ::-1]),  # not contiguous
])
def test_numpy_photos_are_sent_as_png(array, expected):
    photo = as_photo(array)
    assert photo.size == (40, 30)
    np.testing.assert_array_equal(served(photo), expected)


@pytest.mark.parametrize("array, error, message", [
    (PIXELS > 100, TypeError, "bool array (a mask?)"),
    (PIXELS * 2.0, PhotoError, "floats must be in [0, 1]"),
    (np.full((3, 4), np.nan), PhotoError, "floats must be in [0, 1]"),
    (PIXELS.astype(np.int16) - 1, PhotoError, "from -1 to 254"),
    (np.zeros((3, 4, 2), np.uint8), PhotoError, "shape (3, 4, 2)"),
    (np.zeros((0, 4), np.uint8), PhotoError, "shape (0, 4)"),
    (PIXELS.astype(complex), TypeError, "dtype complex128"),
])
def test_numpy_photos_the_service_cannot_take_are_refused(array, error, message):
    with pytest.raises(error, match=re.escape(message)):
        as_photo(array)


def test_other_things_are_refused_saying_what_is_accepted():
    with pytest.raises(TypeError, match="photo is a list; give a path .* a PIL image, or a numpy array"):
        as_photo([[1, 2, 3]])
    with pytest.raises(PhotoError, match="could not be read as PNG, JPEG"):
        as_photo(b"not an image")
    with pytest.raises(TypeError, match="mask is a int; give a numpy array"):
        mask_bits(3, (40, 30))


def test_masks_of_every_kind_read_as_the_same_bits(tmp_path):
    painted = RNG.random((30, 40)) < 0.3
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[painted, 3] = 255
    path = tmp_path / "mask.png"
    path.write_bytes(png_bytes(rgba))
    for mask in (painted, painted.astype(np.uint8), painted * 255.0, Image.fromarray(rgba), png_bytes(rgba),
                 png_bytes(painted), path, str(path)):
        np.testing.assert_array_equal(mask_bits(mask, (40, 30)), painted)


def test_the_painted_rule_is_the_servers():
    alpha = np.zeros((4, 5, 4), np.uint8)
    alpha[..., :3] = 255  # white but transparent: not painted
    alpha[1, 2, 3] = 1
    grey = np.zeros((4, 5), np.uint8)
    grey[3, 4] = 1
    for image in (Image.fromarray(alpha), Image.fromarray(grey)):
        client = np.asarray(painted_plane(image)) > 0
        np.testing.assert_array_equal(client, np.asarray(decode_mask(png_bytes(np.asarray(image)), 5, 4)) > 0)
        assert client.sum() == 1


def test_masks_are_sent_as_one_bit_pngs_the_server_reads_back():
    painted = RNG.random((30, 41)) < 0.3
    data = mask_png(painted)
    assert Image.open(io.BytesIO(data)).mode == "1"
    np.testing.assert_array_equal(read_mask(data, 41, 30).to_array(), painted)
    assert mask_png(np.zeros((30, 41), bool)) == b""  # nothing painted: no mask at all


@pytest.mark.parametrize("mask", [np.zeros((40, 30), bool), Image.new("L", (41, 30)),
                                  png_bytes(np.zeros((3, 3), bool))])
def test_a_mask_of_another_size_is_refused_saying_both_sizes(mask):
    with pytest.raises(PhotoError, match=r"mask is \d+x\d+ but the image is 40x30"):
        mask_bits(mask, (40, 30))


def test_masks_that_are_not_h_by_w_are_refused():
    with pytest.raises(PhotoError, match=r"shape \(30, 40, 4\); give H x W"):
        mask_bits(np.zeros((30, 40, 4), np.uint8), (40, 30))
    with pytest.raises(TypeError, match="dtype <U1"):
        mask_bits(np.full((30, 40), "x"), (40, 30))
    with pytest.raises(PhotoError, match="could not be read as a PNG"):
        mask_bits(b"nope", (40, 30))


def test_image_ids_are_content_hashes_the_service_and_the_web_app_both_use():
    import hashlib

    from inference_service.pipeline import classification
    from maskscope.photos import photo_id
    from web_client import inference
    assert photo_id(b"abc") == hashlib.sha256(b"abc").hexdigest() != photo_id(b"abd")
    assert classification.photo_id is inference.photo_id is photo_id  # one rule: the service's id is the route's
