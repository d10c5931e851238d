"""Request errors that map one-to-one to gRPC status codes."""

from __future__ import annotations

import grpc


class RequestError(Exception):
    """A failure to report to the client, with the gRPC status code it maps to."""

    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(RequestError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(RequestError):
    code = grpc.StatusCode.NOT_FOUND


class ResourceExhausted(RequestError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceeded(RequestError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Unavailable(RequestError):
    code = grpc.StatusCode.UNAVAILABLE


class FailedPrecondition(RequestError):
    code = grpc.StatusCode.FAILED_PRECONDITION
