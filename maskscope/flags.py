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


def _env_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def env_file(parser: argparse.ArgumentParser, args: argparse.Namespace, *, header: str,
             secret: frozenset[str] = frozenset(), skip: frozenset[str] = frozenset()) -> str:
    """Every flag of `parser` as its env twin set to its value in `args`, after a comment with its
    help: an env file (a Kubernetes ConfigMap's source) that names every setting there is.

    `secret` flags and flags without a value are written commented out (a Secret or nothing sets
    them); `skip` flags (modes, not settings) are left out.
    """
    lines = [f"# {line}" for line in header.splitlines()]
    for action in parser._actions:
        flag = next((s for s in action.option_strings if s.startswith("--") and s != "--help"), None)
        if flag is None or flag in skip:
            continue
        help_text = (action.help or "").split(" [env ")[0]
        value = getattr(args, action.dest)
        lines.append(f"# {flag}: {help_text}")
        if flag in secret:
            lines.append(f"# {env_name(flag)}: from a Secret, never here")
        elif value is None:
            lines.append(f"# {env_name(flag)}=")
        else:
            lines.append(f"{env_name(flag)}={_env_value(value)}")
    return "\n".join(lines) + "\n"
