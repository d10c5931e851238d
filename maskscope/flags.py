"""Command-line flags with `MASKSCOPE_` environment-variable twins (CLI over env over default)."""

from __future__ import annotations

import argparse
import ipaddress
import os

ENV_PREFIX = "MASKSCOPE_"
FILE_SUFFIX = "_FILE"


def is_loopback(host: str) -> bool:
    """Whether binding `host` (a --host flag) serves this machine alone (0.0.0.0 and :: are every
    interface; a name might resolve anywhere)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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


def env_secret(name: str) -> str | None:
    """Env `name`, or the contents of the file that env `name_FILE` names (a Kubernetes Secret
    mounted as files: the value is then never in the process's environment); None when neither is
    set. Both at once, or a file that cannot be read, is a ValueError that says which."""
    path = os.environ.get(name + FILE_SUFFIX)
    if path is None:
        return os.environ.get(name)
    if name in os.environ:
        raise ValueError(f"{name} and {name}{FILE_SUFFIX} are both set: set one")
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"{name}{FILE_SUFFIX}={path!r}: {exc.strerror or exc}") from None


def add_flag(parser: argparse.ArgumentParser, flag: str, *, default, help: str, type=str, secret: bool = False,
             **kwargs):
    """Adds `flag`, whose default comes from its env twin when that is set.

    A boolean flag (`type=bool`) becomes `--flag/--no-flag`. A `secret` flag (a token, a URL with a
    password) may come from a file instead, named by `MASKSCOPE_..._FILE` (env_secret).
    """
    env = env_name(flag)
    try:
        raw = env_secret(env) if secret else os.environ.get(env)
    except ValueError as exc:
        parser.error(str(exc))
    if raw is not None:
        try:
            default = _parse_bool(raw) if type is bool else type(raw)
        except ValueError as exc:
            parser.error(f"{env}={raw!r}: {exc}")
    if secret:  # never the value itself: --help would print it
        help_text = f"{help} [env {env} or {env}{FILE_SUFFIX}; {'set' if default else 'not set'}]"
    else:
        help_text = f"{help} [env {env}; default: {default}]"
    if type is bool:
        return parser.add_argument(flag, default=default, help=help_text,
                                   action=argparse.BooleanOptionalAction, **kwargs)
    action = parser.add_argument(flag, default=default, type=type, help=help_text, **kwargs)
    action.secret = secret
    return action


def is_secret(action: argparse.Action) -> bool:
    return getattr(action, "secret", False)


def _env_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def env_file(parser: argparse.ArgumentParser, args: argparse.Namespace, *, header: str,
             skip: frozenset[str] = frozenset()) -> str:
    """Every flag of `parser` as its env twin set to its value in `args`, after a comment with its
    help: an env file (a Kubernetes ConfigMap's source) that names every setting there is.

    Secret flags and flags without a value are written commented out (a Secret or nothing sets
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
        if is_secret(action):
            lines.append(f"# {env_name(flag)}{FILE_SUFFIX}: a file of a Secret, never here")
        elif value is None:
            lines.append(f"# {env_name(flag)}=")
        else:
            lines.append(f"{env_name(flag)}={_env_value(value)}")
    return "\n".join(lines) + "\n"
