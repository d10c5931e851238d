"""inference_service/errors.py: each request error carries the gRPC status the client gets."""

import grpc
import pytest

from inference_service import errors


@pytest.mark.parametrize("error, code", [
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT), (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED), (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION), (errors.RequestError, grpc.StatusCode.INTERNAL),
])
def test_each_error_is_its_status_with_its_message(error, code):
    raised = error("what was wrong")
    assert raised.code == code and raised.message == str(raised) == "what was wrong"
    assert isinstance(raised, errors.RequestError)
