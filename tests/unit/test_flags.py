"""Flags with MASKSCOPE_ environment twins: CLI over env over default."""

import argparse

import pytest

from maskscope.flags import add_flag, env_file, env_name, env_secret


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


def secret_parser():
    parser = argparse.ArgumentParser()
    add_flag(parser, "--auth-token", default="", secret=True, help="token")
    return parser


def test_a_secret_flag_reads_its_file_twin(monkeypatch, tmp_path):
    token = tmp_path / "auth-token"
    token.write_text("s3cret\n")  # `kubectl create secret --from-file` keeps a file's newline
    monkeypatch.setenv("MASKSCOPE_AUTH_TOKEN_FILE", str(token))
    assert secret_parser().parse_args([]).auth_token == "s3cret"
    assert secret_parser().parse_args(["--auth-token", "cli"]).auth_token == "cli"
    assert env_secret("MASKSCOPE_AUTH_TOKEN") == "s3cret"
    monkeypatch.delenv("MASKSCOPE_AUTH_TOKEN_FILE")
    assert env_secret("MASKSCOPE_AUTH_TOKEN") is None
    monkeypatch.setenv("MASKSCOPE_AUTH_TOKEN", "plain")
    assert secret_parser().parse_args([]).auth_token == "plain"


@pytest.mark.parametrize("both", [False, True])
def test_a_secret_file_that_is_missing_or_doubled_is_a_clear_error(monkeypatch, capsys, tmp_path, both):
    monkeypatch.setenv("MASKSCOPE_AUTH_TOKEN_FILE", str(tmp_path / "nowhere"))
    if both:
        (tmp_path / "nowhere").write_text("x")
        monkeypatch.setenv("MASKSCOPE_AUTH_TOKEN", "y")
    with pytest.raises(SystemExit):
        secret_parser().parse_args([])
    err = capsys.readouterr().err
    assert ("both set" in err) if both else ("MASKSCOPE_AUTH_TOKEN_FILE=" in err and "No such file" in err)


def test_only_secret_flags_have_a_file_twin(monkeypatch, tmp_path):
    (tmp_path / "delay").write_text("9")
    monkeypatch.setenv("MASKSCOPE_MAX_DELAY_MS_FILE", str(tmp_path / "delay"))
    assert parse([], monkeypatch).max_delay_ms == 2.0


def test_env_file_names_every_flag_and_keeps_secrets_out():
    parser = secret_parser()
    add_flag(parser, "--max-delay-ms", type=float, default=2.0, help="delay")
    add_flag(parser, "--cert-file", default=None, help="a certificate")
    add_flag(parser, "--spin", type=bool, default=True, help="spin")
    args = parser.parse_args(["--auth-token", "never-printed", "--max-delay-ms", "7.5"])
    text = env_file(parser, args, header="made by a test")
    assert "never-printed" not in text
    assert text.splitlines() == ["# made by a test", "# --auth-token: token",
                                 "# MASKSCOPE_AUTH_TOKEN_FILE: a file of a Secret, never here",
                                 "# --max-delay-ms: delay", "MASKSCOPE_MAX_DELAY_MS=7.5",
                                 "# --cert-file: a certificate", "# MASKSCOPE_CERT_FILE=",
                                 "# --spin: spin", "MASKSCOPE_SPIN=true"]


def test_help_never_shows_a_secrets_value(monkeypatch, tmp_path, capsys):
    (tmp_path / "token").write_text("sekrit")
    monkeypatch.setenv("MASKSCOPE_AUTH_TOKEN_FILE", str(tmp_path / "token"))
    with pytest.raises(SystemExit):
        secret_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert "sekrit" not in out and "MASKSCOPE_AUTH_TOKEN_FILE; set]" in " ".join(out.split())
