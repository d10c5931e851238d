"""web_client/messages.py: the page's fields (a form's strings or a live message's JSON) as the
service's requests, every wrong type a clear BadRequest; a ClassifyResponse as the page's JSON."""

import base64

import pytest

from maskscope.v1 import classifier_pb2 as pb
from web_client.messages import (BadRequest, build_explain_request, build_request, decode_base64, live_fields,
                                 response_json)

PNG = b"\x89PNG\r\n\x1a\n rest"


def test_a_forms_strings_and_a_messages_json_make_the_same_request():
    form = build_request({"image_id": " ab ", "fill": "blur", "keep_painted": "true", "top_k": "3", "track": "1, 2",
                          "sequence": "9"}, None, PNG)
    message = build_request({"image_id": "ab", "fill": "blur", "keep_painted": True, "top_k": 3, "track": [1, 2],
                             "sequence": 9}, None, PNG)
    assert form == message
    assert message.image_id == "ab" and message.fill == pb.FILL_BLUR and list(message.track) == [1, 2]


@pytest.mark.parametrize("fields, says", [
    ({}, "no image"),
    ({"image_id": 5}, "image_id must be a string, got int"),
    ({"image_id": "ab", "model": ["m"]}, "model must be a string"),
    ({"image_id": "ab", "fill": "glitter"}, "unknown fill 'glitter'"),
    ({"image_id": "ab", "top_k": True}, "top_k must be an integer, got bool"),
    ({"image_id": "ab", "top_k": "3.5"}, "top_k must be an integer"),
    ({"image_id": "ab", "sequence": -1}, "sequence must be between 0"),
    ({"image_id": "ab", "track": {"a": 1}}, "track must be a list of class indices, got dict"),
    ({"image_id": "ab", "track": list(range(33))}, "track at most 32 classes"),
    ({"image_id": "ab", "keep_painted": "maybe"}, "keep_painted must be true or false"),
])
def test_wrong_fields_say_what_is_wrong(fields, says):
    with pytest.raises(BadRequest, match=says):
        build_request(fields, None, None)


def test_images_and_masks_must_look_like_what_they_are():
    with pytest.raises(BadRequest, match="either an image or an image_id"):
        build_request({"image_id": "ab"}, PNG, None)
    with pytest.raises(BadRequest, match="not an image"):
        build_request({}, b"MZ an executable", None)
    with pytest.raises(BadRequest, match="the mask must be a PNG"):
        build_request({"image_id": "ab"}, None, b"GIF89a")


def test_a_live_message_is_a_json_object_with_base64_files():
    assert live_fields('{"image_id": "ab"}') == {"image_id": "ab"}
    for text, says in [("[1]", "a JSON object"), ("{nope", "must be JSON"), (b"\xff\xfe", "must be JSON")]:
        with pytest.raises(BadRequest, match=says):
            live_fields(text)
    encoded = base64.b64encode(PNG).decode()
    assert decode_base64({"mask": encoded}, "mask") == PNG
    assert decode_base64({"mask": "data:image/png;base64," + encoded}, "mask") == PNG
    assert decode_base64({}, "mask") is None
    with pytest.raises(BadRequest, match="mask is not valid base64"):
        decode_base64({"mask": "%%%"}, "mask")
    with pytest.raises(BadRequest, match="image must be a string, got int"):
        decode_base64({"image": 123}, "image")


def test_an_explain_request_takes_an_empty_class_as_the_top_one_and_the_answer_is_the_pages_json():
    assert not build_explain_request({"image_id": "ab", "class_index": ""}, None, None).HasField("class_index")
    assert build_explain_request({"image_id": "ab", "class_index": "0"}, None, None).class_index == 0
    answer = response_json(pb.ClassifyResponse(predictions=[pb.Prediction(class_index=3, label="c", probability=0.5)],
                                               sequence=4, image_id="ab"))
    assert answer["predictions"] == [{"class_index": 3, "label": "c", "probability": 0.5}] and answer["sequence"] == 4
