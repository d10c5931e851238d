"""maskscope/channel.py: channels, the token's metadata, and the one rule for a forgotten photo."""

import grpc
import pytest

from maskscope.channel import make_channel, photo_sent_again, token_metadata
from maskscope.v1 import classifier_pb2 as pb


class Refused(grpc.RpcError):
    def __init__(self, code):
        self._code = code

    def code(self):
        return self._code


def test_a_forgotten_photo_is_sent_once_more_itself():
    sent = []

    def call(request):
        sent.append(request.WhichOneof("source"))
        if request.WhichOneof("source") == "image_id":
            raise Refused(grpc.StatusCode.NOT_FOUND)
        return pb.ClassifyResponse(image_id="ab" * 32, sequence=request.sequence)

    answer = photo_sent_again(call, pb.ClassifyRequest(image_id="ab" * 32, sequence=7), b"\x89PNG the photo")
    assert sent == ["image_id", "image"] and answer.sequence == 7


def test_other_refusals_stand_and_nothing_is_sent_again():
    sent = []

    def call(request):
        sent.append(request)
        raise Refused(grpc.StatusCode.INVALID_ARGUMENT)

    with pytest.raises(grpc.RpcError):
        photo_sent_again(call, pb.ClassifyRequest(image_id="ab" * 32), b"photo")
    assert len(sent) == 1


def test_the_token_goes_as_bearer_metadata_and_a_channel_is_made_either_way(tmp_path):
    assert token_metadata("s3cret") == (("authorization", "Bearer s3cret"),)
    assert token_metadata("") == () and token_metadata(None) == ()
    make_channel("127.0.0.1:1").close()
