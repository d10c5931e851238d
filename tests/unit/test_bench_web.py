"""The web section's load generator: its pure rules (what counts as served, latencies, summaries)
and the messages it sends as the page does. (The measuring itself is `make bench`.)"""

import json
import resource

import pytest

from bench.web_load import (latencies_ms, mask_message, photo_message, raise_open_files, served, summary_ms,
                            ws_url)


def test_a_message_answered_or_passed_over_for_a_later_answered_one_is_served():
    sent = {2: 0.0, 3: 0.2, 4: 0.4, 5: 0.6, 6: 0.8}
    # 2 and 4 answered; 3 passed over for 4: served; 5 and 6 have no answer and nothing later has one.
    assert sorted(served(sent, {2: 0.01, 4: 0.41})) == [2, 3, 4]
    assert sorted(served(sent, {6: 0.9})) == [2, 3, 4, 5, 6]
    assert served(sent, {}) == []


def test_answers_to_messages_sent_before_the_window_still_supersede_it_but_do_not_count_as_sent():
    window = {10: 2.0, 11: 2.2}
    assert sorted(served(window, {1: 0.1, 9: 1.9})) == []  # answers to older messages serve nothing newer
    assert sorted(served(window, {1: 0.1, 12: 2.5})) == [10, 11]  # a later one's answer, after the window


def test_latency_is_of_the_messages_answered_themselves():
    sent = {2: 1.0, 3: 1.2, 4: 1.4}
    assert latencies_ms(sent, {2: 1.010, 4: 1.450, 7: 9.0}) == pytest.approx([10.0, 50.0])
    assert latencies_ms(sent, {}) == []


def test_summary_gives_percentiles_and_the_largest_or_nothing():
    s = summary_ms([float(v) for v in range(1, 101)])
    assert s["count"] == 100 and s["max_ms"] == 100.0
    assert (s["p50_ms"], s["p90_ms"], s["p99_ms"]) == pytest.approx((50.5, 90.1, 99.01))
    assert summary_ms([]) == {"count": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}


def test_messages_are_the_pages_live_mode_json():
    assert json.loads(mask_message("abc", "TUFTSw==", 7, "tiny")) == {
        "image_id": "abc", "mask": "TUFTSw==", "sequence": 7, "model": "tiny", "top_k": 5}
    assert json.loads(photo_message(b"\xff\xd8jpeg", 1, "tiny")) == {
        "image": "/9hqcGVn", "sequence": 1, "model": "tiny", "top_k": 5}
    assert ws_url("http://127.0.0.1:8000/") == "ws://127.0.0.1:8000/api/stream"
    assert ws_url("https://maskscope.example.org/") == "wss://maskscope.example.org/api/stream"


def test_the_open_file_limit_is_raised_to_the_hard_one():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
        assert raise_open_files() == hard == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
