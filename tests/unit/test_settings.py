"""inference_service/settings.py: every flag with its env twin, and the settings made from them."""

import pytest

from inference_service.settings import batch_limits_from_args, build_parser, limits_from_args, runtime_options_from_args
from maskscope.limits import MAX_IMAGE_PIXELS, UPLOAD_MB


def test_the_defaults_are_the_shared_limits_and_the_flags_make_the_settings(monkeypatch):
    args = build_parser().parse_args([])
    assert args.max_image_pixels == MAX_IMAGE_PIXELS and args.max_receive_mb == UPLOAD_MB
    monkeypatch.setenv("MASKSCOPE_MAX_DELAY_MS", "7.5")
    args = build_parser().parse_args(["--max-batch-size", "32", "--image-cache-mb", "64", "--precision", "fp16",
                                      "--concurrent-batches", "3"])
    batch = batch_limits_from_args(args)
    assert batch.max_batch_size == 32 and batch.max_delay_s == pytest.approx(0.0075)
    assert limits_from_args(args).image_cache_bytes == 64 << 20
    runtime = runtime_options_from_args(args)
    assert runtime.precision == "fp16" and runtime.concurrent_batches == 3
