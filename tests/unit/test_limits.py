"""web_client/limits.py: the limits' flags, the pure rules (whom a client limit counts, how many
values a JSON body holds), the in-flight budget, and the hooks that apply them to every route."""

import argparse

import pytest

from web_client.limits import (LIVE_MESSAGE_SLACK_BYTES, MiB, BodyBudget, Limits, LimitExceeded, add_flags,
                               client_network, from_args, json_values, parse_json)


def parsed(*argv):
    parser = argparse.ArgumentParser()
    add_flags(parser)
    return from_args(parser.parse_args(list(argv)))


def test_every_limit_has_a_flag_and_an_env_twin(monkeypatch):
    assert parsed() == Limits()
    assert parsed("--max-report-steps", "7", "--max-upload-mb", "2").report_steps == 7
    monkeypatch.setenv("MASKSCOPE_WS_IDLE_TIMEOUT_S", "12.5")
    assert parsed().ws_idle_timeout_s == 12.5
    with pytest.raises(ValueError, match="--study-max-events must be above 0"):
        parsed("--study-max-events", "0")


def test_what_each_route_takes():
    limits = Limits(upload_mb=2)
    assert limits.upload_bytes == 2 * MiB and limits.body_bytes("maskscope.classify") == 2 * MiB
    assert limits.body_bytes("maskscope.report") == 4 * MiB  # the photo as base64, and its masks
    assert limits.body_bytes("maskscope.faithfulness") == MiB and limits.body_bytes("study.join") < 64 * 1024
    # A live message carries a photo of the upload limit as base64, and the rest of its fields.
    assert limits.live_message_bytes == -(-2 * MiB // 3) * 4 + LIVE_MESSAGE_SLACK_BYTES


@pytest.mark.parametrize("address, counted_as", [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"), ("2001:db8:1:2:ffff:1:2:3", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"), ("::ffff:203.0.113.7", "203.0.113.7"),
    ("fe80::1%eth0", "fe80::/64"), ("not an address", "not an address"), (None, "")])
def test_a_client_limit_counts_an_ipv6_64_as_one_client(address, counted_as):
    assert client_network(address) == counted_as


def test_json_values_are_counted_before_parsing_strings_and_all():
    # Containers, separators and strings count; what is inside a string does not.
    assert json_values(b'{"a": [1, 2, 3], "b": "x,y,[{}\\"]"}') == 9
    assert json_values(b'["\\\\", ","]') == 5  # an escaped backslash, then the quote that ends the string
    assert json_values(b"[" + b"1," * 1000 + b"1]", stop=10) == 11  # counts no further than asked
    assert json_values(b"[" + b"{}," * 1000 + b"{}]") >= 1001
    with pytest.raises(LimitExceeded, match="more than 10 values"):
        parse_json(b"[" + b"0," * 20 + b"0]", 10)
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_json(b"[" * 5000 + b"]" * 5000, 10_000)
    assert parse_json(b'{"ok": [1, 2]}', 10) == {"ok": [1, 2]}


def test_the_budget_lends_what_it_has_and_takes_it_back():
    budget = BodyBudget(10)
    assert budget.take(6) and not budget.take(5) and budget.take(4)
    budget.give_back(6)
    assert budget.take(5) and budget.taken == 9
