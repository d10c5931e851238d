"""The web app's channels to the inference service: each photo's calls keep to one connection."""

import hashlib

from maskscope.v1 import classifier_pb2 as pb
from web_client.inference import Inference, route


def test_a_photos_calls_keep_to_one_channel_and_photos_spread_over_all():
    assert route(8, "15d43fe4" + "0" * 56) == route(8, "15d43fe4" + "f" * 56), "the id's first bytes decide"
    assert len({route(8, f"{i:08x}" + "0" * 56) for i in range(64)}) == 8


def test_an_upload_and_its_later_calls_by_id_take_the_same_channel():
    inference = Inference("127.0.0.1:1", channels=8)  # nothing listens: channels connect lazily
    try:
        photo = b"not really a photo, but bytes to hash"
        image_id = hashlib.sha256(photo).hexdigest()
        upload = inference.for_photo(pb.ClassifyRequest(image=photo))
        assert inference.for_photo(pb.ClassifyRequest(image_id=image_id)) is upload
        assert inference.for_photo(pb.ExplainRequest(image_id=image_id)) is upload
        assert inference.for_photo(pb.ClassifyRequest(image_id="not an id")) is inference.classifier
        assert len(set(map(id, inference.classifiers))) == 8
    finally:
        inference.close()
