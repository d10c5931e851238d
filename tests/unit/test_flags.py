"""Flags with MASKSCOPE_ environment twins: CLI over env over default."""

import argparse

import pytest

from maskscope.flags import add_flag, env_name


def parse(argv, monkeypatch, **env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    parser = argparse.ArgumentParser()
    add_flag(parser, "--max-delay-ms", type=float, default=2.0, help="delay")
    add_flag(parser, "--verbose-log", type=bool, default=False, help="more logging")
    return parser.parse_args(argv)


def test_flag_precedence_is_cli_over_env_over_default(monkeypatch):
    assert env_name("--max-delay-ms") == "MASKSCOPE_MAX_DELAY_MS"
    assert parse([], monkeypatch).max_delay_ms == 2.0
    assert parse([], monkeypatch, MASKSCOPE_MAX_DELAY_MS="7.5").max_delay_ms == 7.5
    assert parse(["--max-delay-ms", "1"], monkeypatch, MASKSCOPE_MAX_DELAY_MS="7.5").max_delay_ms == 1.0
    assert parse([], monkeypatch, MASKSCOPE_VERBOSE_LOG="yes").verbose_log is True
    assert parse(["--no-verbose-log"], monkeypatch, MASKSCOPE_VERBOSE_LOG="1").verbose_log is False


def test_bad_env_value_is_a_clear_error(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        parse([], monkeypatch, MASKSCOPE_MAX_DELAY_MS="soon")
    assert "MASKSCOPE_MAX_DELAY_MS='soon'" in capsys.readouterr().err
