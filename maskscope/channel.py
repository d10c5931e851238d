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


def token_metadata(token: str | None) -> tuple:
    """Call metadata carrying the shared token, if there is one."""
    return (("authorization", f"Bearer {token}"),) if token else ()
