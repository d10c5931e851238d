"""Which web sites may use this server from a visitor's browser: its own pages, and the origins
named by --allowed-origins. A page on another site could otherwise drive live mode or post to
the API with the visitor's browser (against a Maskscope on their own machine or intranet). And
which names it answers to (--allowed-hosts; on loopback, loopback's names): a site whose name
is made to point at 127.0.0.1 (DNS rebinding) would otherwise be the page's "own" origin."""

from __future__ import annotations

from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REFUSED_MESSAGE = ("a page on another site ({origin}) may not use this Maskscope; its own pages may, and the "
                   "origins named by --allowed-origins")
UNKNOWN_HOST_MESSAGE = "this Maskscope answers to {names}, not to {host} (--allowed-hosts names others)"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def parse_allowed(text: str) -> frozenset[str]:
    """--allowed-origins: comma-separated origins (`https://lab.example.org`), each as a browser sends it."""
    origins = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        parsed = urlsplit(part)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path not in ("", "/"):
            raise ValueError(f"--allowed-origins: {part!r} is not an origin (scheme://host[:port], nothing after)")
        origins.add(f"{parsed.scheme}://{parsed.netloc}".lower())
    return frozenset(origins)


def parse_hosts(text: str) -> frozenset[str]:
    """--allowed-hosts: comma-separated names or addresses, without ports."""
    return frozenset(_name(part) for part in text.split(",") if part.strip())


def default_hosts(bind: str) -> frozenset[str] | None:
    """A server on loopback answers to loopback's names (and the address it is bound to); one on
    other interfaces to any name (behind an Ingress, the site's): None."""
    from maskscope.flags import is_loopback
    return LOOPBACK_NAMES | {_name(bind)} if is_loopback(bind) else None


def _name(host: str) -> str:
    """A Host header's name, without its port: `[::1]:8000` -> `::1`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host: str, names: frozenset[str] | None) -> bool:
    return names is None or _name(host) in names


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


def init_app(app, extra: frozenset[str], hosts: frozenset[str] | None = None) -> None:
    """Refuses, with 403, a request that changes something (any method but GET, HEAD and OPTIONS)
    or opens live mode's WebSocket, sent by another site's page; and with 400 a request to a name
    this server does not answer to (`hosts`; None: any)."""
    from flask import jsonify, request

    @app.before_request
    def same_origin_only():
        if not host_allowed(request.host, hosts):
            names = ", ".join(sorted(hosts))
            return jsonify({"error": UNKNOWN_HOST_MESSAGE.format(names=names, host=request.host[:100]),
                            "code": "UNKNOWN_HOST"}), 400
        if request.method in SAFE_METHODS and request.endpoint != "maskscope.stream":
            return None
        origin = request.headers.get("Origin")
        if allowed(origin, request.host, extra):
            return None
        return jsonify({"error": REFUSED_MESSAGE.format(origin=origin), "code": "FORBIDDEN_ORIGIN"}), 403
