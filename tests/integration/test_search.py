"""Search (what flips it, what keeps it) on the real server with the real model: every answer is
classified again with its own mask, as a client would check it."""

import io
import itertools

import grpc
import numpy as np
import pytest
from PIL import Image

from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc
from tests.integration.test_classify import rect_mask

ESPRESSO = 967


@pytest.fixture
def stub(channel):
    return pb_grpc.ClassifierStub(channel)


def search(stub, **fields) -> list[pb.SearchResponse]:
    return list(stub.Search(pb.SearchRequest(**fields), timeout=300))


def classify(stub, image: bytes, mask: bytes) -> pb.ClassifyResponse:
    return stub.Classify(pb.ClassifyRequest(image=image, mask=mask), timeout=30)


def hidden_array(result: pb.SearchResult) -> np.ndarray:
    with Image.open(io.BytesIO(result.hidden)) as mask:
        assert mask.size == (result.image_width, result.image_height)
        return np.asarray(mask.convert("L")) > 0


def labels_png(labels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(labels.astype(np.uint8), "L").save(out, "PNG")
    return out.getvalue()


def test_a_flip_really_flips(stub, photo_png):
    responses = search(stub, image=photo_png["coffee"])
    result = responses[-1].result
    assert result.found and result.class_index == ESPRESSO and result.label == "espresso"
    assert result.base_probability > 0.5 and 0 < result.area < 0.5 and result.regions
    assert result.region_count > 50 and result.classifications <= 2000
    assert result.predictions[0].class_index != ESPRESSO
    again = classify(stub, photo_png["coffee"], result.hidden)
    assert again.predictions[0].class_index == result.predictions[0].class_index != ESPRESSO
    assert again.predictions[0].probability == pytest.approx(result.predictions[0].probability, abs=1e-4)
    done = [r.done for r in responses]
    assert done == sorted(done) and done[-1] == result.classifications and len(responses) > 2
    bests = [r.best_area for r in responses if r.best_area > 0]
    assert bests == sorted(bests, reverse=True) and bests[-1] == pytest.approx(result.area)


def test_a_keep_really_keeps(stub, photo_png):
    result = search(stub, image=photo_png["coffee"], goal=pb.SEARCH_GOAL_KEEP, max_classifications=600)[-1].result
    assert result.found and result.goal == pb.SEARCH_GOAL_KEEP and 0 < result.area < 0.9
    hidden = hidden_array(result)
    assert 0.1 < hidden.mean() < 1.0  # everything but the kept regions is hidden
    again = classify(stub, photo_png["coffee"], result.hidden)
    assert again.predictions[0].class_index == ESPRESSO
    assert again.predictions[0].probability >= 0.9 * result.base_probability - 1e-4


def test_the_budget_is_honoured(stub, photo_png):
    responses = search(stub, image=photo_png["chelsea"], goal=pb.SEARCH_GOAL_KEEP, max_classifications=40)
    assert responses[-1].result.classifications <= 40
    assert all(r.budget == 40 and r.done <= 40 for r in responses)


def test_a_callers_regions_are_searched_and_the_answer_is_the_least_of_all_sets(stub, photo_png, photos):
    """Six regions of unequal size (the photo in bands): the search must say its flip is minimal,
    and every one of the 64 sets, classified here, agrees."""
    height, width = photos["coffee"].shape[:2]
    labels = np.zeros((height, width), np.uint8)
    for i, (top, bottom) in enumerate([(0, 40), (40, 120), (120, 200), (200, 260), (260, 330), (330, 400)]):
        labels[top:bottom] = i
    result = search(stub, image=photo_png["coffee"], regions=labels_png(labels))[-1].result
    assert result.found and result.minimal and set(result.regions) <= set(range(6))
    image_id = result.image_id

    def flips(answer) -> bool:
        mask = rect_mask((height, width), (slice(0, 0), slice(0, 0))) if not answer else labels_png(
            np.isin(labels, answer).astype(np.uint8) * 255)
        response = stub.Classify(pb.ClassifyRequest(image_id=image_id, mask=mask), timeout=30)
        return response.predictions[0].class_index != ESPRESSO

    crop = labels[25:375, 125:475]  # the model's crop: 400 rows resized to 256, 224 of them kept
    area = {r: float((crop == r).mean()) for r in range(6)}
    least = min(sum(area[r] for r in answer) for size in range(7) for answer in itertools.combinations(range(6), size)
                if flips(list(answer)))
    assert result.area == pytest.approx(least, abs=1e-6)


def test_a_starting_mask_stays_hidden_and_is_not_counted(stub, photo_png, photos):
    mask = rect_mask(photos["coffee"].shape, (slice(0, 400), slice(0, 100)))
    result = search(stub, image=photo_png["coffee"], mask=mask)[-1].result
    assert result.found
    hidden = hidden_array(result)
    assert hidden[:, :100].all()
    assert classify(stub, photo_png["coffee"], result.hidden).predictions[0].class_index != result.class_index


def test_a_chosen_class_that_is_not_on_top_is_already_flipped(stub, photo_png):
    result = search(stub, image=photo_png["coffee"], class_index=1)[-1].result
    assert result.found and result.minimal and list(result.regions) == [] and result.area == 0
    assert result.classifications == 1


@pytest.mark.parametrize("fields, message", [
    ({"max_classifications": 100000}, "max_classifications must be between 1 and 4096"),
    ({"max_classifications": -1}, "max_classifications must be between 1 and 4096"),
    ({"keep_share": 1.5}, "keep_share must be between 0 and 1"),
    ({"keep_share": float("nan")}, "keep_share must be between 0 and 1"),
    ({"class_index": 1000}, "class_index must be between 0 and 999"),
    ({"goal": 9}, "unknown goal"),
    ({"fill": 42}, "unknown fill"),
    ({"regions": b"not a png"}, "regions could not be read"),
])
def test_bad_searches_say_what_is_wrong(stub, photo_png, fields, message):
    with pytest.raises(grpc.RpcError) as error:
        search(stub, image=photo_png["coffee"], **fields)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.value.details()


def test_past_every_bound_the_server_still_searches(stub, photo_png):
    """A budget past the server's maximum and scattered regions are refused; the next search is answered."""
    with pytest.raises(grpc.RpcError) as error:
        search(stub, image=photo_png["coffee"], max_classifications=4097)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    rows, cols = np.indices((400, 600))
    with pytest.raises(grpc.RpcError) as error:
        search(stub, image=photo_png["coffee"], regions=labels_png((rows // 3 * 7 + cols // 3) % 200))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "too scattered" in error.value.details()
    assert search(stub, image=photo_png["coffee"], max_classifications=50)[-1].result.classifications <= 50


def test_regions_of_another_size_are_refused(stub, photo_png):
    with pytest.raises(grpc.RpcError) as error:
        search(stub, image=photo_png["coffee"], regions=labels_png(np.zeros((10, 10))))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "regions are 10 x 10 pixels; the image is 600 x 400" in error.value.details()


def test_an_unknown_image_id_is_not_found(stub):
    with pytest.raises(grpc.RpcError) as error:
        search(stub, image_id="0" * 64)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_search_runs_in_a_front_end_of_a_workers_server(model_dir, photo_png):
    """With --workers, a front-end process makes the copies and the model process runs them."""
    from tests.conftest import ServerProcess

    server = ServerProcess(model_dir, "--workers", "2")
    try:
        with server.channel() as channel:
            result = search(pb_grpc.ClassifierStub(channel), image=photo_png["coffee"])[-1].result
            assert result.found and result.predictions[0].class_index != ESPRESSO
            again = pb_grpc.ClassifierStub(channel).Classify(
                pb.ClassifyRequest(image_id=result.image_id, mask=result.hidden), timeout=30)
            assert again.predictions[0].class_index == result.predictions[0].class_index
    finally:
        server.stop()
