"""Maskscope's shared pieces: the generated gRPC contract (`maskscope.v1`), flag helpers, and the Python client."""

# Lazy: the server and the web app import maskscope.v1 and friends, and should not pay for the
# client (PIL, numpy) on the way.
_LAZY = {"Client": "maskscope.client", "ServiceError": "maskscope.client"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'maskscope' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
