"""bench/search.py's arithmetic: region areas, the map per region, the limit and the checks."""

from types import SimpleNamespace

import numpy as np
import pytest

from bench import search


def test_region_areas_count_the_crop_only():
    labels = np.zeros((10, 10), np.uint8)
    labels[:, 5:] = 1
    labels[0, :] = 2  # outside the crop below
    areas = search.region_areas(labels, (0, 1, 10, 9))
    assert areas.tolist() == pytest.approx([0.5, 0.5, 0.0])


def test_a_regions_map_value_is_the_mean_of_its_pixels_cells():
    labels = np.zeros((4, 4), np.uint8)
    labels[:, 2:] = 1
    explanation = SimpleNamespace(crop=(0.0, 0.0, 4.0, 4.0), drop=np.array([[1.0, 3.0], [1.0, 5.0]]))
    assert search.map_per_region(explanation, labels).tolist() == pytest.approx([1.0, 4.0])


def test_twelve_regions_are_twelve():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(60, dtype=np.uint8), 100).reshape(60, 100)
    rgb = (rng.random((60, 100, 3)) * 255).astype(np.uint8)
    assert len(np.unique(search.twelve_regions(labels, rgb))) == 12


def test_the_folder_limit_counts_two_model_runs_a_photo():
    parts = {"decode_s": 0.002, "first_input_s": 0.001, "second_input_s": 0.001}
    assert search.folder_limit(2, parts, 200.0) == pytest.approx(2 / (0.004 + 0.02))


def photo(flip, baseline, twelve=None, classifications=100):
    figures = {"flip_area": flip, "baseline_area": baseline, "flip_classifications": classifications}
    return {**figures, "twelve": twelve} if twelve else figures


def test_the_checks_judge_the_bars():
    twelve_ok = {"search_area": 0.1, "optimum_area": 0.09}
    twelve_far = {"search_area": 0.2, "optimum_area": 0.1}
    result = {"photos": {"a": photo(0.02, 0.04, twelve_ok), "b": photo(0.06, 0.04, twelve_far, 2500),
                         "c": photo(None, 0.1)}}
    (area, ratio, bar, *_), (within, count, *_), (most, value, *_) = search.checks(result)
    assert ratio == pytest.approx(1.0) and count == 1 and value == 2500
