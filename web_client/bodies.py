"""Request bodies, bounded before a view sees them: each route's limit (web_client/limits.py), a
large body read in full here, in time, taking the process's in-flight budget as its bytes arrive
(never for bytes a client only announced), and a JSON body's values counted before it is parsed."""

from __future__ import annotations

import contextlib
import io

from flask import g, jsonify, request

from web_client.limits import (BUSY_MESSAGE, DEFAULT_JSON_VALUES, JSON_VALUES, SMALL_BODY_BYTES, LimitExceeded,
                               get_budget, get_limits, parse_json, too_large)
from web_client.messages import BadRequest

# A body refused for its length is read and dropped up to this much before the answer, so that the
# client, still sending, hears why (closing on unread data resets the connection, answer and all).
REFUSED_BODY_DRAIN_BYTES = 8 << 20
# A large body must arrive at this pace, after a start of BODY_GRACE_S: a phone on a slow link
# sends 16 MB in four minutes; a client that trickles bytes to hold its share of the budget fails.
BODY_BYTES_PER_S = 64 * 1024
BODY_GRACE_S = 10.0


def init_app(app) -> None:
    app.before_request(bound_the_body)
    app.teardown_request(give_back)

    @app.errorhandler(413)
    def body_too_large(_error):  # werkzeug's, for a body that turned out longer than it said
        return jsonify({"error": too_large(request.max_content_length or get_limits().upload_bytes),
                        "code": "TOO_LARGE"}), 413


def bound_the_body():
    """The route's limit on the request's body; a body over 64 KiB is read here, into memory the
    budget lends as it arrives, within BODY_GRACE_S + its size at BODY_BYTES_PER_S."""
    request.max_content_length = limit = get_limits().body_bytes(request.endpoint)
    length = request.content_length
    stream = request.environ["wsgi.input"]
    if length is not None and length > limit:
        _drain(stream, min(length, REFUSED_BODY_DRAIN_BYTES))
        raise LimitExceeded(too_large(limit, length))
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if not chunked and (length or 0) <= SMALL_BODY_BYTES:
        return
    g.body_reserved = 0
    body = io.BytesIO()
    expected = length if length is not None else limit
    with _deadline(BODY_GRACE_S + expected / BODY_BYTES_PER_S):
        while chunk := stream.read(min(SMALL_BODY_BYTES, expected - body.tell() + 1)):
            if body.tell() + len(chunk) > limit:
                raise LimitExceeded(too_large(limit))
            g.body_reserved, covered = get_budget().grow(g.body_reserved, body.tell() + len(chunk))
            if not covered:
                raise LimitExceeded(BUSY_MESSAGE, 503, "BUSY")
            body.write(chunk)
    request.environ.update({"wsgi.input": body, "CONTENT_LENGTH": str(body.tell()), "wsgi.input_terminated": False})
    body.seek(0)
    request.environ.pop("HTTP_TRANSFER_ENCODING", None)


def give_back(_exc=None) -> None:
    reserved = g.pop("body_reserved", 0)
    if reserved:
        get_budget().give_back(reserved)


class TooSlow(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds: float):
    """Under gevent the body's reads are cut off after `seconds` (a threaded worker's reads are
    bounded by its socket's own timeout)."""
    from gevent import monkey
    if not monkey.is_module_patched("socket"):
        yield
        return
    import gevent
    try:
        with gevent.Timeout(seconds, TooSlow):
            yield
    except TooSlow:
        raise LimitExceeded(f"the body came too slowly: {seconds:.0f} s for it", 408, "TOO_SLOW") from None


def _drain(stream, nbytes: int) -> None:
    while nbytes > 0 and (chunk := stream.read(min(nbytes, SMALL_BODY_BYTES))):
        nbytes -= len(chunk)


def json_request(what: str):
    """The request's JSON body, bounded (web_client.limits.parse_json); LimitExceeded, a 415 for
    another content type (what a cross-site form can send), or a 400 for no JSON."""
    if not request.is_json:
        raise LimitExceeded(f"send {what} as JSON (Content-Type: application/json)", 415, "UNSUPPORTED_MEDIA_TYPE")
    try:
        return parse_json(request.get_data(cache=False), JSON_VALUES.get(request.endpoint or "", DEFAULT_JSON_VALUES))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None
