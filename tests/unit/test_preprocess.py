"""The reference transforms: decoding, fills, masks at full size and parity with torchvision."""

import io

import numpy as np
import pytest
from PIL import Image

from inference_service.errors import InvalidArgument
from inference_service.export import ARCHITECTURES
from inference_service.pipeline.preprocess import (IMAGENET_MEAN_RGB, apply_mask, decode_image, fill_image, model_view,
                                                   normalise, resized_size, source_crop_box, to_model_input, view_reach)
from inference_service.runtimes.metadata import Preprocessing
from maskscope.limits import MAX_IMAGE_PIXELS
from tests.conftest import png_bytes

MAX_PIXELS = MAX_IMAGE_PIXELS


def encode(image: Image.Image, fmt="PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def torchvision_reference(rgb: np.ndarray, spec) -> np.ndarray:
    import torchvision.transforms as T
    interpolation = T.InterpolationMode(spec.interpolation)
    transform = T.Compose([T.Resize(spec.resize, interpolation=interpolation), T.CenterCrop(spec.crop),
                           T.ToTensor(), T.Normalize(spec.mean, spec.std)])
    return transform(Image.fromarray(rgb)).numpy()


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_matches_torchvision_on_real_photos(photos, arch):
    spec = ARCHITECTURES[arch].preprocessing
    for name, rgb in photos.items():
        ours = to_model_input(decode_image(png_bytes(rgb), MAX_PIXELS), spec)
        reference = torchvision_reference(rgb, spec)
        assert ours.shape == reference.shape == (3, spec.crop, spec.crop)
        assert ours.dtype == np.float32
        assert np.abs(ours - reference).max() <= 0.02, name


def test_resized_size_keeps_aspect_like_torchvision():
    assert resized_size(600, 400, 256) == (384, 256)
    assert resized_size(400, 600, 256) == (256, 384)
    assert resized_size(10, 10, 232) == (232, 232)


@pytest.mark.parametrize("fill", ["gray", "black", "blur", "noise"])
def test_each_fill_replaces_only_painted_pixels(photos, fill):
    rgb = photos["chelsea"]
    painted = np.zeros(rgb.shape[:2], bool)
    painted[100:200, 150:300] = True
    pixels = fill_image(rgb, fill, seed=7)
    out = apply_mask(rgb, painted, pixels)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~painted], rgb[~painted])
    assert not np.array_equal(out[painted], rgb[painted])
    if fill == "gray":
        assert (out[painted] == IMAGENET_MEAN_RGB).all()
    if fill == "black":
        assert (out[painted] == 0).all()
    if fill == "blur":  # smoother than the photo, but still its colours
        assert np.abs(np.diff(out[painted].astype(int), axis=0)).mean() < np.abs(
            np.diff(rgb[painted].astype(int), axis=0)).mean()
    if fill == "noise":  # repeatable for the same seed, different for another
        np.testing.assert_array_equal(pixels, fill_image(rgb, "noise", seed=7))
        assert not np.array_equal(pixels, fill_image(rgb, "noise", seed=8))


def test_keep_painted_keeps_only_the_painted_area(photos):
    rgb = photos["astronaut"]
    painted = np.zeros(rgb.shape[:2], bool)
    painted[10:60, 20:90] = True
    out = apply_mask(rgb, painted, fill_image(rgb, "black"), keep_painted=True)
    np.testing.assert_array_equal(out[painted], rgb[painted])
    assert (out[~painted] == 0).all()


def test_unknown_fill_is_an_invalid_argument(photos):
    with pytest.raises(InvalidArgument, match="unknown fill"):
        fill_image(photos["coffee"], "sparkles")


class TestDecode:
    def test_empty(self):
        with pytest.raises(InvalidArgument, match="image is empty"):
            decode_image(b"", MAX_PIXELS)

    def test_not_an_image(self):
        with pytest.raises(InvalidArgument, match="could not be read"):
            decode_image(b"GIF89a but not really" * 10, MAX_PIXELS)

    def test_truncated_jpeg(self, photos):
        data = encode(Image.fromarray(photos["coffee"]), "JPEG")
        with pytest.raises(InvalidArgument, match="damaged or truncated"):
            decode_image(data[: len(data) // 2], MAX_PIXELS)

    def test_pixel_limit_is_checked_before_decoding(self):
        data = encode(Image.new("L", (3000, 3000)), "PNG")
        with pytest.raises(InvalidArgument, match=r"3000x3000 = 9000000 pixels; the limit is 1000000"):
            decode_image(data, 1_000_000)

    def test_exif_orientation_is_honoured(self):
        image = Image.new("RGB", (40, 20), (255, 0, 0))
        image.paste((0, 0, 255), (0, 0, 10, 20))  # blue on the left
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90 degrees clockwise to display
        rgb = decode_image(encode(image, "JPEG", exif=exif, quality=95), MAX_PIXELS)
        assert rgb.shape == (40, 20, 3)
        assert rgb[2, 10, 2] > 200 and rgb[-3, 10, 0] > 200  # blue now on top, red below

    @pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "F", "1"])
    def test_every_mode_becomes_rgb(self, mode):
        gradient = np.tile(np.linspace(0, 1, 32), (16, 1))
        if mode in ("I;16", "I"):
            image = Image.fromarray((gradient * 65535).astype(np.uint16)).convert(mode) if mode == "I" else \
                Image.fromarray((gradient * 65535).astype(np.uint16))
        elif mode == "F":
            image = Image.fromarray(gradient.astype(np.float32))
        else:
            image = Image.fromarray((gradient * 255).astype(np.uint8)).convert(mode)
        fmt = "TIFF" if mode in ("F", "CMYK", "I") else "PNG"
        rgb = decode_image(encode(image, fmt), MAX_PIXELS)
        assert rgb.shape == (16, 32, 3) and rgb.dtype == np.uint8
        if mode != "1":  # high bit depths are scaled, not clipped: the gradient survives
            assert rgb[:, 0].max() < 40 and rgb[:, -1].min() > 200, mode

    def test_animated_gif_uses_the_first_frame(self):
        frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 255, 0))]
        buffer = io.BytesIO()
        frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
        rgb = decode_image(buffer.getvalue(), MAX_PIXELS)
        assert rgb[0, 0, 0] > 200 and rgb[0, 0, 1] < 50


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("width, height", [(1, 1), (5, 3), (37, 1000), (1999, 17), (600, 400), (224, 224), (513, 511)])
def test_the_view_is_made_from_only_the_part_the_model_sees(interpolation, width, height):
    """The centre crop's source box and the filter's reach around it: the rest changes nothing."""
    spec = Preprocessing(256, 224, interpolation, (0.5,) * 3, (0.5,) * 3)
    rgb = np.random.default_rng(width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    box = source_crop_box(width, height, spec)
    whole = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(rgb[:, :, c])).convert("F").resize(
        (224, 224), getattr(Image.Resampling, interpolation.upper()), box=box)) for c in range(3)])
    np.testing.assert_allclose(model_view(rgb, spec), normalise(whole, spec), atol=1e-4)
    left, top, right, bottom = view_reach(width, height, spec)
    outside = rgb.copy()
    outside[:top] = outside[bottom:] = 0
    outside[:, :left] = outside[:, right:] = 0
    np.testing.assert_array_equal(model_view(outside, spec), model_view(rgb, spec))


def test_every_interpolation_a_model_may_name_is_one_pil_resizes_with():
    from inference_service.pipeline.preprocess import _RESAMPLING
    from inference_service.runtimes.metadata import INTERPOLATIONS
    assert set(INTERPOLATIONS) == set(_RESAMPLING)
