"""MaskInputs: a photo's model inputs under any mask equal the reference transforms, however made."""

import numpy as np
import pytest
from PIL import Image

from inference_service.export import ARCHITECTURES
from inference_service.pipeline import mask_input
from inference_service.pipeline.mask_input import CHEAP_MAX_MASK_BYTES, MaskInputs, PhotoFills
from inference_service.pipeline.preprocess import apply_mask, to_model_input
from maskscope.photos import photo_id
from tests.conftest import png_bytes
from tests.unit.test_preprocess import encode, torchvision_reference

LITE0 = ARCHITECTURES["efficientnet-lite0"].preprocessing
RESNET = ARCHITECTURES["resnet50"].preprocessing


def inputs_of(rgb: np.ndarray, spec, name: bytes = b"photo") -> MaskInputs:
    return MaskInputs(rgb, PhotoFills(rgb, photo_id(name)), spec)


def alpha_png(painted: np.ndarray) -> bytes:
    mask = np.zeros((*painted.shape, 4), np.uint8)
    mask[painted, 3] = 255
    return png_bytes(mask)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("fill", ["gray", "black", "blur", "noise"])
@pytest.mark.parametrize("keep_painted", [False, True])
@pytest.mark.parametrize("history", ["first sight", "after the photo alone"])
def test_a_masked_input_matches_torchvision_on_the_masked_full_size_photo(photos, arch, fill, keep_painted, history):
    """The first input of a photo is made the plain way; later ones add a mask's change onto
    resized views. Both equal the reference: mask at full size, then the eval transforms."""
    spec = ARCHITECTURES[arch].preprocessing
    rgb = photos["coffee"]
    painted = np.zeros(rgb.shape[:2], bool)
    painted[50:300, 120:420] = True
    painted[330:, :90] = True  # a second region, touching the edges
    inputs = inputs_of(rgb, spec)
    if history == "after the photo alone":
        inputs.input_for(b"", fill, False)
    ours = inputs.input_for(alpha_png(painted), fill, keep_painted)
    reference = torchvision_reference(apply_mask(rgb, painted, inputs.fills.get(fill), keep_painted), spec)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    assert np.abs(ours - reference).max() <= 0.02


def test_a_photo_seen_once_costs_a_plain_servers_work_and_the_second_request_builds_the_views(photos, monkeypatch):
    rgb = photos["coffee"]
    made = []
    part, view = mask_input.view_of_part, mask_input.model_view
    monkeypatch.setattr(mask_input, "view_of_part", lambda *args: made.append("masked part") or part(*args))
    monkeypatch.setattr(mask_input, "model_view", lambda image, spec: made.append(
        "photo" if image is rgb else "other") or view(image, spec))
    inputs = inputs_of(rgb, LITE0)
    painted = np.zeros(rgb.shape[:2], bool)
    painted[100:200, 100:300] = True
    inputs.input_for(alpha_png(painted), "gray", False)
    assert made == ["masked part"], "one resize, of the masked part the model sees, and nothing else"
    assert not inputs.cheap(b"m", "gray", False) and inputs.held_bytes() < 1_000_000
    painted[200:220, 100:300] = True
    inputs.input_for(alpha_png(painted), "gray", False)
    assert made == ["masked part", "photo"], "the photo's own view, for the masks to come"
    assert inputs.cheap(b"m", "gray", False)


def test_a_one_bit_mask_works_like_an_alpha_mask(photos):
    rgb = photos["chelsea"]
    painted = np.zeros(rgb.shape[:2], bool)
    painted[20:200, 100:300] = True
    one_bit = encode(Image.fromarray(painted), "PNG")
    for warm in (False, True):
        a, b = inputs_of(rgb, LITE0), inputs_of(rgb, LITE0)
        if warm:
            a.input_for(b"", "gray", False), b.input_for(b"", "gray", False)
        np.testing.assert_array_equal(a.input_for(one_bit, "gray", False), b.input_for(alpha_png(painted), "gray", False))


@pytest.mark.parametrize("keep_painted", [False, True])
def test_masks_built_on_recent_ones_equal_masks_built_from_scratch(photos, keep_painted):
    """A painting session: strokes added, then one erased, then a mask seen before."""
    rgb = photos["astronaut"]
    session = inputs_of(rgb, RESNET)
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
        incremental = session.input_for(data, "blur", keep_painted)
        scratch = inputs_of(rgb, RESNET).input_for(data, "blur", keep_painted)
        np.testing.assert_allclose(incremental, scratch, atol=1e-4, err_msg=f"step {step}")
        reference = torchvision_reference(apply_mask(rgb, mask, session.fills.get("blur"), keep_painted), RESNET)
        assert np.abs(incremental - reference).max() <= 0.02


def recording_boxes(monkeypatch) -> list:
    boxes = []
    real = mask_input.difference_in
    monkeypatch.setattr(mask_input, "difference_in", lambda rgb, fill, box: boxes.append(box) or real(rgb, fill, box))
    return boxes


def test_two_painters_on_one_photo_each_build_on_their_own_last_mask(photos, monkeypatch):
    """Painters who share a photo share its recent masks: the one that differs least is the base,
    not the first that differs little (another painter's, whose change would span the photo)."""
    rgb = photos["coffee"]
    height, width = rgb.shape[:2]
    shared = inputs_of(rgb, LITE0)
    shared.input_for(b"", "gray", False)  # the upload
    mine, theirs = np.zeros((height, width), bool), np.zeros((height, width), bool)
    mine[100:130, 150:450] = True
    theirs[40:70, 140:160] = theirs[330:360, 440:460] = True  # few pixels, far apart
    shared.input_for(png_bytes(mine), "gray", False)
    shared.input_for(png_bytes(theirs), "gray", False)  # theirs is the newer
    mine[130:140, 150:450] = True  # my stroke grows by a little (theirs differs by < 1/16 of the bytes too)
    boxes = recording_boxes(monkeypatch)
    ours = shared.input_for(png_bytes(mine), "gray", False)
    assert boxes == [(150, 130, 450, 140)]  # only my stroke's new part was computed
    np.testing.assert_allclose(ours, inputs_of(rgb, LITE0).input_for(png_bytes(mine), "gray", False), atol=1e-4)


def test_a_mask_is_not_built_on_one_whose_change_spans_more_than_its_own_paint(photos, monkeypatch):
    """Two small strokes far apart differ from each other in few bytes but span the photo: the
    new mask is then built on the image alone, which touches only its own box."""
    rgb = photos["astronaut"]  # 512 x 512
    session = inputs_of(rgb, LITE0)
    session.input_for(b"", "gray", False)
    earlier = np.zeros(rgb.shape[:2], bool)
    earlier[60:68, 60:68] = True            # a dot top-left
    earlier[200:300, 200:300] = True        # and a blob in the middle
    later = np.zeros(rgb.shape[:2], bool)
    later[200:300, 200:300] = True          # the blob
    later[440:448, 440:448] = True          # and a dot bottom-right (all inside the centre crop)
    session.input_for(png_bytes(earlier), "gray", False)
    boxes = recording_boxes(monkeypatch)
    built = session.input_for(png_bytes(later), "gray", False)
    assert boxes == [(200, 200, 448, 448)]  # its own box, not (60, 60, 448, 448)
    np.testing.assert_allclose(built, inputs_of(rgb, LITE0).input_for(png_bytes(later), "gray", False), atol=1e-4)


def test_keep_painted_with_nothing_painted_hides_everything(photos):
    rgb = photos["rocket"]
    out = inputs_of(rgb, LITE0).input_for(b"", "black", True)
    np.testing.assert_allclose(out, to_model_input(np.zeros_like(rgb), LITE0))


def test_only_cheap_masks_are_made_in_the_models_worker(photos):
    """A first view, a first blur, a large photo, a huge mask PNG or inpainting would hold up a
    whole batch: those go to the preprocessing threads."""
    inputs = inputs_of(photos["coffee"], LITE0)
    small = b"x" * 100
    assert not inputs.cheap(small, "gray", False), "its model view is not made yet"
    inputs.input_for(b"", "gray", False)  # what the upload did
    assert inputs.cheap(small, "gray", False) and inputs.cheap(small, "black", False)
    assert not inputs.cheap(small, "blur", False), "the blurred photo is not made yet"
    inputs.fills.get("blur")
    assert inputs.cheap(small, "blur", False)
    assert not inputs.cheap(small, "blur", True), "nor the blurred photo's view"
    assert not inputs.cheap(small, "inpaint", False)
    assert not inputs.cheap(b"x" * (CHEAP_MAX_MASK_BYTES + 1), "gray", False)
    large = inputs_of(np.zeros((2100, 2000, 3), np.uint8), LITE0)
    large.input_for(b"", "gray", False)
    assert not large.cheap(small, "gray", False)


def test_occluded_copies_hide_one_patch_each_of_the_masked_input(photos):
    inputs = inputs_of(photos["chelsea"], LITE0)
    copies = list(inputs.occluded_inputs(b"", "black", False, [(0, 0), (100, 28)], 28))
    base, black = copies[0], inputs.view("black")
    assert len(copies) == 3
    for copy, (y, x) in zip(copies[1:], [(0, 0), (100, 28)]):
        np.testing.assert_array_equal(copy[:, y:y + 28, x:x + 28], black[:, y:y + 28, x:x + 28])
        outside = np.ones(base.shape, bool)
        outside[:, y:y + 28, x:x + 28] = False
        np.testing.assert_array_equal(copy[outside], base[outside])
