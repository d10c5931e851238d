"""The Python client against the real server (subprocess, free loopback port) with the real model."""

import grpc
import numpy as np
import pytest
from PIL import Image

from maskscope import Client, ServiceError
from tests.conftest import ServerProcess, free_port
from tests.integration.test_classify import CUP
from tests.integration.test_metrics import scrape

ESPRESSO = 967


@pytest.fixture
def client(server):
    with Client(server.address) as c:
        yield c


@pytest.fixture
def coffee_file(tmp_path, photo_png):
    path = tmp_path / "coffee.png"
    path.write_bytes(photo_png["coffee"])
    return path


def cup_mask(photos) -> np.ndarray:
    mask = np.zeros(photos["coffee"].shape[:2], bool)
    mask[CUP] = True
    return mask


def test_a_path_bytes_a_pil_image_and_an_array_are_the_same_photo(client, coffee_file, photos, photo_png):
    answers = [client.classify(photo) for photo in (coffee_file, str(coffee_file), photo_png["coffee"],
                                                    Image.fromarray(photos["coffee"]), photos["coffee"])]
    first = answers[0]
    assert first.top.label == "espresso" and first.top.class_index == ESPRESSO and first.top.probability > 0.5
    assert first.model == "efficientnet-lite0" and first.image_size == (600, 400) and len(first.image_id) == 64
    assert len(first.predictions) == 5 and first.timings.total_ms > 0 and first.timings.batch_size >= 1
    for other in answers[1:]:
        assert [p.class_index for p in other.predictions] == [p.class_index for p in first.predictions]
        np.testing.assert_allclose([p.probability for p in other.predictions],
                                   [p.probability for p in first.predictions], atol=1e-5)


def test_a_numpy_mask_over_the_cup_hides_the_espresso(client, coffee_file, photos):
    plain = client.classify(coffee_file)
    masked = client.classify(coffee_file, cup_mask(photos), track=["espresso"])
    assert masked.tracked[0].class_index == ESPRESSO and masked.top.label != "espresso"
    assert masked.probability("espresso") < plain.probability("espresso") / 2
    kept = client.classify(coffee_file, cup_mask(photos), keep_painted=True, fill="blur")
    assert kept.top.label in {"espresso", "cup", "coffee mug"}


def test_an_evicted_photo_is_sent_again(model_dir, photo_png):
    """A cache that holds one photo: coffee, then chelsea, then coffee by its id, which the server
    has evicted (NOT_FOUND, counted), so the client sends the photo again and gets its answer."""
    metrics_port = free_port()
    server = ServerProcess(model_dir, "--image-cache-mb", "0.5", "--metrics-port", str(metrics_port))
    try:
        with Client(server.address) as client:
            first = client.classify(photo_png["coffee"])
            client.classify(photo_png["chelsea"])
            again = client.classify(photo_png["coffee"])
            samples = scrape(metrics_port)
    finally:
        server.stop()
    assert samples['maskscope_requests_total{code="NOT_FOUND",model="efficientnet-lite0"}'] == 1
    assert samples['maskscope_requests_total{code="OK",model="efficientnet-lite0"}'] == 3
    assert again.predictions == first.predictions and again.image_id == first.image_id


def test_explain_is_an_array_over_the_crop(client, coffee_file):
    progress = []
    e = client.explain(coffee_file, patch_size=56, stride=56, progress=lambda done, total: progress.append(done))
    assert e.drop.shape == (4, 4) and e.drop.dtype == np.float32 and e.occluded_copies == 16
    assert e.crop == (125, 25, 475, 375)  # the centre crop the model sees, in the photo's pixels
    assert e.label == "espresso" and e.class_index == ESPRESSO and e.base_probability > 0.5
    assert progress[-1] == 16 and e.drop.max() > 0.05
    assert e.to_image().size == (350, 350) and "data:image/png;base64," in e._repr_html_()


def test_explain_a_class_by_its_label_on_a_masked_photo(client, coffee_file, photos):
    e = client.explain(coffee_file, cup_mask(photos), class_index="coffee mug", patch_size=112, stride=112)
    assert e.class_index == 504 and e.label == "coffee mug" and e.drop.shape == (2, 2)


def test_a_painting_session_hides_undoes_and_tracks_the_first_answer(client, photos):
    s = client.session(photos["coffee"])
    first = s.classify()
    left, top = CUP[1].start, CUP[0].start
    hidden = s.hide_box(left, top, CUP[1].stop, CUP[0].stop).classify()
    assert s.mask.sum() == cup_mask(photos).sum()
    assert hidden.probability(first.top.label) < first.top.probability / 2  # tracked, whatever its rank
    restored = s.undo().classify()
    assert not s.mask.any() and len(s.history) == 3
    np.testing.assert_allclose(restored.probability(first.top.label), first.top.probability, atol=1e-5)
    assert {r.image_id for r in s.history} == {first.image_id}


def test_models_lists_the_default_model(client):
    (info,) = [m for m in client.models() if m.name == "efficientnet-lite0"]
    assert info.is_default and info.pretrained and info.input_size == 224 and info.label_set == "imagenet-1k"
    assert len(info.labels) == 1000 and info.labels[ESPRESSO] == "espresso" and info.max_batch_size == 0


def test_an_unknown_model_is_a_service_error(client, coffee_file):
    with pytest.raises(ServiceError) as failed:
        client.classify(coffee_file, model="nope")
    assert failed.value.code == grpc.StatusCode.NOT_FOUND and "unknown model 'nope'" in failed.value.message
    client.classify(coffee_file)  # its id now known: an unknown model still fails, after the one resend
    with pytest.raises(ServiceError, match="NOT_FOUND: unknown model 'nope'"):
        client.classify(coffee_file, model="nope")


def test_results_render_as_html_in_jupyter(client, coffee_file):
    page = client.classify(coffee_file)._repr_html_()
    assert page.startswith("<table>") and "<td>espresso</td>" in page and "efficientnet-lite0" in page
