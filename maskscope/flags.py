"""Command-line flags with `MASKSCOPE_` environment-variable twins (CLI over env over default)."""

from __future__ import annotations

import argparse
import os

ENV_PREFIX = "MASKSCOPE_"


def env_name(flag: str) -> str:
    """`--max-delay-ms` -> `MASKSCOPE_MAX_DELAY_MS`."""
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def add_flag(parser: argparse.ArgumentParser, flag: str, *, default, help: str, type=str, **kwargs):
    """Adds `flag`, whose default comes from its env twin when that is set.

    A boolean flag (`type=bool`) becomes `--flag/--no-flag`.
    """
    env = env_name(flag)
    raw = os.environ.get(env)
    if raw is not None:
        try:
            default = _parse_bool(raw) if type is bool else type(raw)
        except ValueError as exc:
            parser.error(f"{env}={raw!r}: {exc}")
    help_text = f"{help} [env {env}; default: {default}]"
    if type is bool:
        return parser.add_argument(flag, default=default, help=help_text,
                                   action=argparse.BooleanOptionalAction, **kwargs)
    return parser.add_argument(flag, default=default, type=type, help=help_text, **kwargs)
