"""Client side of the gRPC connection: plain or TLS channels, and the optional shared token."""

from __future__ import annotations

from pathlib import Path

import grpc


def make_channel(address: str, *, tls_ca_file: Path | str | None = None, tls_server_name: str = "",
                 options: list | tuple = ()) -> grpc.Channel:
    """A channel to `address`; TLS when a CA certificate is given (the server's, or its issuer's)."""
    options = list(options)
    if tls_server_name:
        options.append(("grpc.ssl_target_name_override", tls_server_name))
    if tls_ca_file:
        credentials = grpc.ssl_channel_credentials(root_certificates=Path(tls_ca_file).read_bytes())
        return grpc.secure_channel(address, credentials, options=options)
    return grpc.insecure_channel(address, options=options)


def photo_sent_again(call, request, photo: bytes):
    """`call(request)`, where `request` names its photo by `image_id`; if the service has
    forgotten that photo (NOT_FOUND: restarted, or evicted it from its cache), the same request
    once more with the photo itself (the same bytes: the same id). The one rule for a forgotten
    photo, as the page has it too (painting_session.js)."""
    try:
        return call(request)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
    again = type(request)()
    again.CopyFrom(request)
    again.image = photo  # the oneof: no image_id any more
    return call(again)


def token_metadata(token: str | None) -> tuple:
    """Call metadata carrying the shared token, if there is one."""
    return (("authorization", f"Bearer {token}"),) if token else ()
