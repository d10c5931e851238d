"""The paper's protocol, run as a script: `make experiments` (see experiments/__main__.py)."""
