"""Preprocessing: decoding, masks, fills and parity with torchvision's eval transforms."""

import functools
import io

import numpy as np
import pytest
from PIL import Image

from inference_service.errors import InvalidArgument
from inference_service.export import ARCHITECTURES
from inference_service.masks import decode_mask
from inference_service.preprocess import (IMAGENET_MEAN_RGB, ViewResize, apply_mask, decode_image, difference_in,
                                          fill_image, masked_input, model_view, resized_size, to_model_input)
from tests.conftest import png_bytes

MAX_PIXELS = 40_000_000


def encode(image: Image.Image, fmt="PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def mask_on(rgb: np.ndarray, fill_pixels: np.ndarray, mask: bytes, keep_painted: bool, spec) -> np.ndarray:
    """masked_input from scratch, with the views that CachedImage would keep."""
    height, width = rgb.shape[:2]
    return masked_input(model_view(rgb, spec), lambda: model_view(fill_pixels, spec),
                        functools.partial(difference_in, rgb, fill_pixels), mask, keep_painted, spec,
                        ViewResize.of(width, height, spec), width, height)[0]


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


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("fill", ["gray", "black", "blur", "noise"])
@pytest.mark.parametrize("keep_painted", [False, True])
def test_masked_input_matches_torchvision_on_the_masked_full_size_photo(photos, arch, fill, keep_painted):
    """The serving path blends resized views; the reference masks at full size, then transforms."""
    spec = ARCHITECTURES[arch].preprocessing
    rgb = photos["coffee"]
    painted = np.zeros(rgb.shape[:2], bool)
    painted[50:300, 120:420] = True
    painted[330:, :90] = True  # a second region, touching the edges
    mask = np.zeros((*rgb.shape[:2], 4), np.uint8)
    mask[painted, 3] = 255
    fill_pixels = fill_image(rgb, fill, seed=3)
    ours = mask_on(rgb, fill_pixels, png_bytes(mask), keep_painted, spec)
    reference = torchvision_reference(apply_mask(rgb, painted, fill_pixels, keep_painted), spec)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    assert np.abs(ours - reference).max() <= 0.02


def test_a_one_bit_mask_works_like_an_alpha_mask(photos):
    spec = ARCHITECTURES["efficientnet-lite0"].preprocessing
    rgb = photos["chelsea"]
    painted = np.zeros(rgb.shape[:2], bool)
    painted[20:200, 100:300] = True
    alpha = np.zeros((*rgb.shape[:2], 4), np.uint8)
    alpha[painted, 3] = 255
    one_bit = encode(Image.fromarray(painted), "PNG")
    gray = fill_image(rgb, "gray")
    np.testing.assert_array_equal(mask_on(rgb, gray, one_bit, False, spec),
                                  mask_on(rgb, gray, png_bytes(alpha), False, spec))


@pytest.mark.parametrize("keep_painted", [False, True])
def test_masks_built_on_recent_ones_equal_masks_built_from_scratch(photos, keep_painted):
    """A painting session: strokes added, then one erased, then a mask seen before."""
    from inference_service.image_cache import CachedImage, image_id_for
    spec = ARCHITECTURES["resnet50"].preprocessing
    rgb = photos["astronaut"]
    session = CachedImage(image_id_for(b"session"), rgb)
    painted = np.zeros(rgb.shape[:2], bool)
    masks = []
    for y in (100, 180, 260, 340):  # growing strokes
        painted[y: y + 40, 60: 420] = True
        masks.append(painted.copy())
    erased = masks[-1].copy()
    erased[180:220, 100:300] = False
    masks += [erased, masks[1]]
    for step, mask in enumerate(masks):
        data = png_bytes(mask)
        incremental = session.masked_input(spec, "blur", data, keep_painted)
        scratch = CachedImage(image_id_for(b"session"), rgb).masked_input(spec, "blur", data, keep_painted)
        np.testing.assert_allclose(incremental, scratch, atol=1e-4, err_msg=f"step {step}")
        reference = torchvision_reference(apply_mask(rgb, mask, session.fill("blur"), keep_painted), spec)
        assert np.abs(incremental - reference).max() <= 0.02


def test_two_painters_on_one_photo_each_build_on_their_own_last_mask(photos):
    """Painters who share a photo share its recent masks: the one that differs least is the base,
    not the first that differs little (another painter's, whose change would span the photo)."""
    spec = ARCHITECTURES["efficientnet-lite0"].preprocessing
    rgb = photos["coffee"]
    height, width = rgb.shape[:2]
    fill_pixels = fill_image(rgb, "gray")
    resize = ViewResize.of(width, height, spec)
    view = model_view(rgb, spec)
    boxes = []

    def difference(box):
        boxes.append(box)
        return difference_in(rgb, fill_pixels, box)

    def make(painted, recent=()):
        return masked_input(view, None, difference, png_bytes(painted), False, spec, resize, width, height,
                            recent)

    mine, theirs = np.zeros((height, width), bool), np.zeros((height, width), bool)
    mine[100:130, 150:450] = True
    theirs[40:70, 140:160] = theirs[330:360, 440:460] = True  # few pixels, far apart
    my_input, my_mask = make(mine)
    their_input, their_mask = make(theirs)
    mine[130:140, 150:450] = True  # my stroke grows by a little (theirs differs by < 1/16 of the bytes too)
    boxes.clear()
    ours, _ = make(mine, [(their_mask, their_input), (my_mask, my_input)])  # theirs is the newer
    assert boxes == [(150, 130, 450, 140)]  # only my stroke's new part was computed
    np.testing.assert_allclose(ours, make(mine)[0], atol=1e-4)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("resize_to", [256, 232, 224])
@pytest.mark.parametrize("width, height", [(600, 400), (451, 300), (37, 1000), (1999, 17), (224, 224), (5, 3), (1, 1),
                                           (512, 512), (64, 64), (288, 288)])
def test_the_views_resize_as_linear_maps_equals_pils_resize(interpolation, resize_to, width, height):
    """What a mask's change is resized with must be PIL's resize, region or whole image alike
    (nearest included, whose sampling PIL steps in its own arithmetic)."""
    from inference_service.preprocess import Preprocessing, source_crop_box
    spec = Preprocessing(resize_to, 224, interpolation, (0.5,) * 3, (0.5,) * 3)
    resize = ViewResize.of(width, height, spec)
    plane = np.random.default_rng(width).random((height, width)).astype(np.float32) * 255
    left, top = width // 3, height // 4
    for box in [(0, 0, width, height), (left, top, left + max(1, width // 5), top + max(1, height // 6))]:
        region = np.zeros_like(plane)
        region[box[1]:box[3], box[0]:box[2]] = plane[box[1]:box[3], box[0]:box[2]]
        pil = np.asarray(Image.fromarray(region, "F").resize(
            (224, 224), getattr(Image.Resampling, interpolation.upper()), box=source_crop_box(width, height, spec)))
        ours = np.zeros((224, 224), np.float32)
        change = resize.apply(plane[None, box[1]:box[3], box[0]:box[2]], box)
        if change is not None:
            rows, columns, values = change
            ours[rows, columns] = values[0]
        assert np.abs(ours - pil).max() < 1e-3  # float rounding of values up to 255
        assert (ours != 0).any() or not (pil != 0).any()
        trimmed = resize.trim(box)  # only what the view reads of the box: the same result
        if trimmed is None:
            assert not (pil != 0).any()
            continue
        change = resize.apply(plane[None, trimmed[1]:trimmed[3], trimmed[0]:trimmed[2]], trimmed)
        ours_trimmed = np.zeros((224, 224), np.float32)
        ours_trimmed[change[0], change[1]] = change[2][0]
        assert np.abs(ours_trimmed - pil).max() < 1e-3


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


def test_keep_painted_with_nothing_painted_hides_everything(photos):
    spec = ARCHITECTURES["efficientnet-lite0"].preprocessing
    rgb = photos["rocket"]
    black = fill_image(rgb, "black")
    out = mask_on(rgb, black, b"", True, spec)
    black = to_model_input(np.zeros_like(rgb), spec)
    np.testing.assert_allclose(out, black)


def test_unknown_fill_is_an_invalid_argument(photos):
    with pytest.raises(InvalidArgument, match="unknown fill"):
        fill_image(photos["coffee"], "sparkles")


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


def test_only_cheap_masks_are_made_in_the_models_worker(photos):
    """A first blur, a large photo, a huge mask PNG or inpainting would hold up a whole batch:
    those go to the preprocessing threads."""
    from inference_service.classification import DEFER_MAX_MASK_BYTES, _cheap
    from inference_service.image_cache import CachedImage, image_id_for
    from maskscope.v1 import classifier_pb2 as pb
    spec = ARCHITECTURES["efficientnet-lite0"].preprocessing
    image = CachedImage(image_id_for(b"coffee"), photos["coffee"])
    small = pb.ClassifyRequest(mask=b"x" * 100)
    assert not _cheap(image, spec, "gray", small), "its model view is not made yet"
    image.masked_input(spec, "gray", b"", False)  # what the upload did
    assert _cheap(image, spec, "gray", small) and _cheap(image, spec, "black", small)
    assert not _cheap(image, spec, "blur", small), "the blurred photo is not made yet"
    image.fill("blur")
    assert _cheap(image, spec, "blur", small)
    assert not _cheap(image, spec, "blur", pb.ClassifyRequest(mask=b"x" * 100, keep_painted=True))
    assert not _cheap(image, spec, "inpaint", small)
    assert not _cheap(image, spec, "gray", pb.ClassifyRequest(mask=b"x" * (DEFER_MAX_MASK_BYTES + 1)))
    large = CachedImage(image_id_for(b"large"), np.zeros((2100, 2000, 3), np.uint8))
    large.masked_input(spec, "gray", b"", False)
    assert not _cheap(large, spec, "gray", small)


def test_a_mask_is_not_built_on_one_whose_change_spans_more_than_its_own_paint(photos, monkeypatch):
    """Two small strokes far apart differ from each other in few bytes but span the photo: the
    new mask is then built on the image alone, which touches only its own box."""
    from inference_service import image_cache
    from inference_service.image_cache import CachedImage, image_id_for
    spec = ARCHITECTURES["efficientnet-lite0"].preprocessing
    rgb = photos["astronaut"]  # 512 x 512
    boxes = []
    monkeypatch.setattr(image_cache, "difference_in",
                        lambda rgb, fill, box: boxes.append(box) or difference_in(rgb, fill, box))
    session = CachedImage(image_id_for(b"far apart"), rgb)
    earlier = np.zeros(rgb.shape[:2], bool)
    earlier[60:68, 60:68] = True            # a dot top-left
    earlier[200:300, 200:300] = True        # and a blob in the middle
    later = np.zeros(rgb.shape[:2], bool)
    later[200:300, 200:300] = True          # the blob
    later[440:448, 440:448] = True          # and a dot bottom-right (all inside the centre crop)
    session.masked_input(spec, "gray", png_bytes(earlier), False)
    boxes.clear()
    built = session.masked_input(spec, "gray", png_bytes(later), False)
    assert boxes == [(200, 200, 448, 448)]  # its own box, not (60, 60, 448, 448)
    scratch = CachedImage(image_id_for(b"far apart"), rgb).masked_input(spec, "gray", png_bytes(later), False)
    np.testing.assert_allclose(built, scratch, atol=1e-4)
