"""Which web sites may use this server from a visitor's browser: its own pages, and the origins
named by --allowed-origins. A page on another site could otherwise drive live mode or post to
the API with the visitor's browser (against a Maskscope on their own machine or intranet)."""

from __future__ import annotations

from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REFUSED_MESSAGE = ("a page on another site ({origin}) may not use this Maskscope; its own pages may, and the "
                   "origins named by --allowed-origins")


def parse_allowed(text: str) -> frozenset[str]:
    """--allowed-origins: comma-separated origins (`https://lab.example.org`), each as a browser sends it."""
    origins = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        parsed = urlsplit(part)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path not in ("", "/"):
            raise ValueError(f"--allowed-origins: {part!r} is not an origin (scheme://host[:port], nothing after)")
        origins.add(f"{parsed.scheme}://{parsed.netloc}".lower())
    return frozenset(origins)


def allowed(origin: str | None, host: str, extra: frozenset[str] = frozenset()) -> bool:
    """Whether a request with this Origin header, arriving with this Host header, may go on.

    Browsers send Origin with every WebSocket handshake and every cross-site or non-GET request:
    a request without one is not from another site's page (a script, the notebook client, curl).
    The page's own origin is the one whose host is the Host it was sent to (the scheme is left
    out: behind a TLS-terminating proxy the page is https and the app sees http).
    """
    if origin is None:
        return True
    origin = origin.strip().lower()
    if origin in extra:
        return True
    parsed = urlsplit(origin)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc) and parsed.netloc == host.strip().lower()


def init_app(app, extra: frozenset[str]) -> None:
    """Refuses, with 403, a request that changes something (any method but GET, HEAD and OPTIONS)
    or opens live mode's WebSocket, sent by another site's page."""
    from flask import jsonify, request

    @app.before_request
    def same_origin_only():
        if request.method in SAFE_METHODS and request.endpoint != "maskscope.stream":
            return None
        origin = request.headers.get("Origin")
        if allowed(origin, request.host, extra):
            return None
        return jsonify({"error": REFUSED_MESSAGE.format(origin=origin), "code": "FORBIDDEN_ORIGIN"}), 403
