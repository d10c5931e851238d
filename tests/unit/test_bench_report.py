"""The benchmark's table of ratios against the bars (the measuring itself is `make bench`)."""

from bench.__main__ import report


def results(served_16: float, raw_best: float, naive_16: float = 10.0, one_client_p50: float = 9.0) -> dict:
    point = {"p50_ms": 100.0, "p90_ms": 120.0, "p99_ms": 150.0, "errors": 0}
    return {
        "models": {"resnet50": {
            "raw": {"provider": "CPUExecutionProvider", "best_images_per_s": raw_best, "best_batch": 8,
                    "best_images_per_s_before_and_after": [raw_best + 1, raw_best - 1], "batch1_p50_ms": 6.0},
            "served": {"1": {**point, "requests_per_s": 50.0, "p50_ms": one_client_p50},
                       "16": {**point, "requests_per_s": served_16}},
            "naive": {"16": {**point, "requests_per_s": naive_16}}}},
        "bytes": {"full_image_bytes": 68000, "image_id_and_mask_bytes": 900, "ratio": 900 / 68000},
    }


def test_every_bar_met():
    text, ok = report(results(served_16=19.0, raw_best=20.0))
    assert ok
    assert "served / raw best-batch throughput, 16 clients" in text and "0.950" in text
    assert "served / naive throughput, 16 clients" in text and "1.900" in text
    assert "(before / after the load: 21.0 / 19.0)" in text
    assert "FAIL" not in text


def test_each_bar_can_fail_on_its_own():
    for bad, name in [(dict(served_16=17.0), "served / raw"), (dict(served_16=19.0, naive_16=13.0), "served / naive"),
                      (dict(served_16=19.0, one_client_p50=11.5), "one client")]:
        text, ok = report(results(raw_best=20.0, **{"served_16": 19.0, **bad}))
        assert not ok
        failed = [line for line in text.splitlines() if line.endswith("FAIL")]
        assert len(failed) == 1 and name in failed[0], text
