"""Explain (occlusion maps) and the inpaint fill, on the real server with the real model."""

import grpc
import numpy as np
import pytest

from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc
from tests.integration.test_classify import CUP, rect_mask

ESPRESSO = 967
COFFEE_MUG = 504


@pytest.fixture
def stub(channel):
    return pb_grpc.ClassifierStub(channel)


def explain(stub, **fields):
    return list(stub.Explain(pb.ExplainRequest(**fields), timeout=120))


def source_means(m: pb.OcclusionMap, region):
    """Mean drop of the map's cells whose centres fall inside `region` (rows, cols of the photo), and outside."""
    values = np.array(m.drop).reshape(m.rows, m.cols)
    inside = np.zeros_like(values, bool)
    for r in range(m.rows):
        for c in range(m.cols):
            y = m.crop_top + (r + 0.5) / m.rows * (m.crop_bottom - m.crop_top)
            x = m.crop_left + (c + 0.5) / m.cols * (m.crop_right - m.crop_left)
            inside[r, c] = region[0].start <= y < region[0].stop and region[1].start <= x < region[1].stop
    return values[inside].mean(), values[~inside].mean()


def test_the_map_is_highest_over_the_cup(stub, photo_png):
    responses = explain(stub, image=photo_png["coffee"], patch_size=56, stride=28)
    progress = [(r.done, r.total) for r in responses]
    assert progress[-1] == (49, 49) and all(a[0] < b[0] for a, b in zip(progress, progress[1:-1]))
    m = responses[-1].map
    assert m.label == "espresso" and m.class_index == ESPRESSO and m.base_probability > 0.5
    assert (m.rows, m.cols, len(m.drop), m.occluded_copies) == (8, 8, 64, 49)
    assert (m.image_width, m.image_height) == (600, 400) and m.crop_left > 0 and m.crop_bottom <= 400
    cup, background = source_means(m, CUP)
    assert cup > background + 0.05, (cup, background)
    assert max(m.drop) > 0.2  # some patch really hurts


def test_explain_a_chosen_class_on_the_masked_image(stub, photo_png, photos):
    mask = rect_mask(photos["coffee"].shape, (slice(0, 400), slice(0, 300)))
    masked = stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"], mask=mask, track=[COFFEE_MUG]), timeout=30)
    assert masked.predictions[0].class_index != COFFEE_MUG  # not the top class: it must be the one asked for
    m = explain(stub, image_id=masked.image_id, mask=mask, class_index=COFFEE_MUG, patch_size=112, stride=112)[-1].map
    assert m.class_index == COFFEE_MUG and m.label == "coffee mug" and m.occluded_copies == 4
    assert m.base_probability == pytest.approx(masked.tracked[0].probability, abs=1e-5)


@pytest.mark.parametrize("fields, message", [
    ({"patch_size": 500}, "patch_size must be between 1 and"),
    ({"patch_size": 16, "stride": 32}, "stride must be between 1 and patch_size"),
    ({"patch_size": 4, "stride": 1}, "occluded copies; at most 1024"),
    ({"class_index": 1000}, "class_index must be between 0 and 999"),
    ({"fill": 42}, "unknown fill"),
])
def test_bad_explain_requests_say_what_is_wrong(stub, photo_png, fields, message):
    with pytest.raises(grpc.RpcError) as error:
        explain(stub, image=photo_png["coffee"], **fields)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.value.details()


def test_explain_needs_an_image(stub):
    with pytest.raises(grpc.RpcError) as error:
        explain(stub, image_id="f" * 64)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_inpaint_fill_hides_the_cup_differently_from_gray(stub, photo_png, photos):
    mask = rect_mask(photos["coffee"].shape, CUP)
    answers = {}
    for fill in (pb.FILL_GRAY, pb.FILL_INPAINT):
        response = stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"], mask=mask, fill=fill,
                                                    track=[ESPRESSO]), timeout=30)
        answers[fill] = response
    assert answers[pb.FILL_INPAINT].tracked[0].probability < 0.2  # the cup is gone either way
    # How it is removed changes the answer: the two fills' top-3 classes differ.
    top3 = {fill: [p.class_index for p in answer.predictions[:3]] for fill, answer in answers.items()}
    assert top3[pb.FILL_INPAINT] != top3[pb.FILL_GRAY], top3
    unmasked = stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"], fill=pb.FILL_INPAINT), timeout=30)
    assert unmasked.predictions[0].class_index == ESPRESSO  # nothing painted, nothing inpainted


def test_the_impute_fill_removes_the_cup_the_same_way_every_time(stub, photo_png, photos):
    """ROAD's noisy linear imputation: the cup goes, and its seeded noise gives the same answer twice."""
    mask = rect_mask(photos["coffee"].shape, CUP)
    answers = [stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"], mask=mask, fill=pb.FILL_IMPUTE,
                                                track=[ESPRESSO]), timeout=60) for _ in range(2)]
    assert answers[0].tracked[0].probability < 0.2
    assert answers[0].tracked[0].probability == answers[1].tracked[0].probability
    m = explain(stub, image=photo_png["coffee"], fill=pb.FILL_IMPUTE, patch_size=112, stride=112)[-1].map
    assert m.occluded_copies == 4 and m.label == "espresso"
