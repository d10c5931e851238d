"""Postprocessing, flags with env twins, and the image cache."""

import argparse

import numpy as np
import pytest

from inference_service.image_cache import RECENT_MASKS, CachedImage, ImageCache, budget_bytes, image_id_for
from inference_service.masks import encode_png
from inference_service.preprocess import Preprocessing, ViewResize
from inference_service.postprocess import rank, softmax, top_k
from maskscope.flags import add_flag, env_name


def test_softmax_is_stable_and_sums_to_one():
    probabilities = softmax(np.array([[1000.0, 1000.0, -1000.0], [0.0, np.log(3.0), 0.0]]))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(probabilities[0], [0.5, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(probabilities[1], [0.2, 0.6, 0.2])


def test_top_k_is_sorted_and_breaks_ties_by_index():
    row = np.array([0.1, 0.3, 0.05, 0.3, 0.25])
    assert top_k(row, 3) == [(1, 0.3), (3, 0.3), (4, 0.25)]
    assert [i for i, _ in top_k(row, 10)] == [1, 3, 4, 0, 2]


def test_ranking_a_whole_batch_agrees_with_top_k_per_row():
    rng = np.random.default_rng(0)
    batch = softmax(rng.normal(size=(9, 50)))
    batch[3, [4, 7, 9]] = batch[3].max() + 0.01  # a three-way tie at the top
    batch[4] = 1 / 50  # all tied
    ranked = rank(batch, 5)
    for row, r in zip(batch, ranked):
        assert r.best == top_k(row, 5)
        assert r.top(2) == top_k(row, 2)
        assert r.top(12) == top_k(row, 12)  # beyond the ranked ones: ranked again, from the row
        assert r.probabilities is not None and np.array_equal(r.probabilities, row)
    assert [i for i, _ in ranked[3].best[:3]] == [4, 7, 9]


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


def entry(seed: int, side: int = 10) -> CachedImage:
    data = bytes([seed]) * 8
    return CachedImage(image_id_for(data), np.full((side, side, 3), seed, np.uint8))


def test_image_cache_evicts_least_recently_used():
    a, b, c = entry(1), entry(2), entry(3)
    cache = ImageCache(max_bytes=2 * budget_bytes(10, 10, (224,)), input_sizes=(224,))
    cache.put(a)
    cache.put(b)
    assert cache.get(a.image_id) is a  # a is now the most recent
    cache.put(c)
    assert a.image_id in cache and c.image_id in cache and b.image_id not in cache
    assert len(cache) == 2


def held_bytes(image: CachedImage) -> int:
    """What a cached image holds besides its pixels, as made so far."""
    arrays = list(image._fills.values())
    for view in image._views.values():
        if isinstance(view, ViewResize):
            arrays += [axis.__dict__["_all_weights"] for axis in (view.columns, view.rows)
                       if axis.__dict__.get("_all_weights") is not None]
        else:
            arrays.append(view)
    arrays += [a for recent in image._recent.values() for _, mask, x in recent for a in (mask.bits, x)]
    return sum(a.nbytes for a in arrays)


def test_an_images_budget_covers_what_each_model_makes_of_it():
    # Two models: their views and resize weights count twice; a larger input counts more.
    one, two = budget_bytes(600, 400, (224,)), budget_bytes(600, 400, (224, 224))
    assert two - one == one - budget_bytes(600, 400, ())
    assert budget_bytes(600, 400, (384,)) > one
    image = CachedImage("a" * 64, np.zeros((400, 600, 3), np.uint8))
    spec = Preprocessing(resize=438, crop=384, interpolation="bicubic", mean=(0.5,) * 3, std=(0.5,) * 3)
    # Painting sessions under every fill, both ways (fills, views and recent inputs).
    for k, (fill, keep) in enumerate([(f, keep) for f in ("gray", "black", "blur", "noise") for keep in (False, True)
                                      for _ in range(RECENT_MASKS + 1)]):
        image.masked_input(spec, fill, encode_png(np.eye(400, 600, k * 10, bool)), keep_painted=keep)
    assert held_bytes(image) <= budget_bytes(600, 400, (384,))
    cache = ImageCache(max_bytes=1 << 30, input_sizes=(384,))
    cache.put(image)
    assert cache.bytes == budget_bytes(600, 400, (384,))


def test_image_cache_returns_the_existing_entry_for_the_same_id():
    cache = ImageCache(max_bytes=1 << 20)
    first = cache.put(entry(5))
    assert cache.put(entry(5)) is first and len(cache) == 1


def test_image_ids_are_content_hashes():
    assert image_id_for(b"abc") == image_id_for(b"abc") != image_id_for(b"abd")
    assert len(image_id_for(b"abc")) == 64


def test_cached_fills_are_computed_once_and_noise_is_seeded_by_the_image():
    image = entry(9, side=32)
    noise = image.fill("noise")
    assert image.fill("noise") is noise
    other = CachedImage(image_id_for(b"other"), image.rgb)
    assert not np.array_equal(other.fill("noise"), noise)
