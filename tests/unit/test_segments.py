"""A photo's regions: every pixel in one, numbered from 0, few enough for an 8-bit PNG, stable."""

import io

import numpy as np
import pytest
from PIL import Image

from inference_service.pipeline import segments


@pytest.mark.parametrize("name", ["coffee", "astronaut", "grace_hopper"])
def test_regions_cover_the_photo_and_follow_its_edges(photos, name):
    rgb = photos[name]
    labels = segments.regions(rgb)
    assert labels.shape == rgb.shape[:2] and labels.dtype == np.uint8
    count = int(labels.max()) + 1
    assert set(np.unique(labels)) == set(range(count)), "numbered 0 .. count - 1"
    assert 50 <= count <= segments.MAX_REGIONS
    # Superpixels follow colour: pixels of one region are far more alike than the photo as a whole.
    spread = np.mean([rgb[labels == k].std(axis=0).mean() for k in range(count)])
    assert spread < 0.5 * rgb.reshape(-1, 3).std(axis=0).mean()
    np.testing.assert_array_equal(segments.regions(rgb), labels)  # the same photo, the same regions


def test_a_large_photo_is_split_at_a_working_size_and_scaled_back(photos):
    rgb = np.asarray(Image.fromarray(photos["coffee"]).resize((2400, 1600)))
    labels = segments.regions(rgb)
    assert labels.shape == (1600, 2400) and labels.max() < segments.MAX_REGIONS


def test_the_labels_travel_as_an_exact_8_bit_png(photos):
    labels = segments.regions(photos["chelsea"])
    decoded = np.asarray(Image.open(io.BytesIO(segments.labels_png(labels))))
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, labels)
