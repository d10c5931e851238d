"""The image cache: least recently used out, each photo budgeted for what its models make of it."""

import numpy as np

from inference_service.pipeline.image_cache import CachedImage, ImageCache, budget_bytes
from inference_service.pipeline.mask_input import RECENT_MASKS
from inference_service.pipeline.masks import encode_png
from inference_service.runtimes.metadata import Preprocessing
from maskscope.photos import photo_id


def entry(seed: int, side: int = 10) -> CachedImage:
    data = bytes([seed]) * 8
    return CachedImage(photo_id(data), np.full((side, side, 3), seed, np.uint8))


def test_image_cache_evicts_least_recently_used():
    a, b, c = entry(1), entry(2), entry(3)
    cache = ImageCache(max_bytes=2 * budget_bytes(10, 10, (224,)), input_sizes=(224,))
    cache.put(a)
    cache.put(b)
    assert cache.get(a.image_id) is a  # a is now the most recent
    cache.put(c)
    assert a.image_id in cache and c.image_id in cache and b.image_id not in cache
    assert len(cache) == 2


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
        image.inputs(spec).input_for(encode_png(np.eye(400, 600, k * 10, bool)), fill, keep)
    image.inputs(spec).input_for(b"", "inpaint", False)  # and the resized photo that inpainting uses
    assert image.held_bytes() > budget_bytes(600, 400, (384,)) / 2, "the budget is not far above what is held"
    assert image.held_bytes() <= budget_bytes(600, 400, (384,))
    cache = ImageCache(max_bytes=1 << 30, input_sizes=(384,))
    cache.put(image)
    assert cache.bytes == budget_bytes(600, 400, (384,))


def test_image_cache_returns_the_existing_entry_for_the_same_id():
    cache = ImageCache(max_bytes=1 << 20)
    first = cache.put(entry(5))
    assert cache.put(entry(5)) is first and len(cache) == 1


def test_cached_fills_are_computed_once_and_noise_is_seeded_by_the_image():
    image = entry(9, side=32)
    noise = image.fills.get("noise")
    assert image.fills.get("noise") is noise
    other = CachedImage(photo_id(b"other"), image.rgb)
    assert not np.array_equal(other.fills.get("noise"), noise)
