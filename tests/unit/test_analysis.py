"""web_client/study/analysis.py against figures worked out by hand on a small fixed dataset."""

import numpy as np
import pytest

from web_client.study import analysis


def trial(participant, condition, phase, correct, confidence=3, model_correct=True):
    return {"participant": participant, "condition": condition, "phase": phase, "correct": correct,
            "confidence": confidence, "model_correct": model_correct}


# Two paint participants (post: 3/4 and 2/2 right), two controls (post: 1/2 and 0/2 right).
TRIALS = [
    trial("p1", "paint", "post", True, 5), trial("p1", "paint", "post", True, 4),
    trial("p1", "paint", "post", True, 4), trial("p1", "paint", "post", False, 2, model_correct=False),
    trial("p2", "paint", "post", True, 5), trial("p2", "paint", "post", True, 3),
    trial("c1", "none", "post", True, 3), trial("c1", "none", "post", False, 3, model_correct=False),
    trial("c2", "none", "post", False, 1), trial("c2", "none", "post", False, 2, model_correct=None),
    trial("p1", "paint", "pre", False, 3), trial("c1", "none", "pre", True, 4),
]


def test_accuracy_is_the_mean_of_each_participants_share():
    estimate = analysis.accuracy(analysis.select(TRIALS, condition="paint", phase="post"))
    assert estimate.value == pytest.approx((3 / 4 + 2 / 2) / 2) and estimate.participants == 2
    assert estimate.low <= estimate.value <= estimate.high


def test_utility_is_the_gain_over_the_control_with_an_interval():
    u = analysis.utility(TRIALS, "paint", "none")
    assert u.value == pytest.approx(0.875 - (0.5 + 0.0) / 2)
    assert u.low <= u.value <= u.high and u.participants == 4
    assert analysis.utility(TRIALS, "paint", "none") == u  # seeded: the same interval every time


def test_calibration_counts_each_confidence_level():
    c = analysis.calibration(analysis.select(TRIALS, phase="post"))
    assert c[5] == {"accuracy": 1.0, "trials": 2}
    assert c[3]["trials"] == 3 and c[3]["accuracy"] == pytest.approx(2 / 3)
    assert c[2] == {"accuracy": 0.0, "trials": 2} and c[1] == {"accuracy": 0.0, "trials": 1}


def test_the_report_splits_by_whether_the_model_was_right():
    r = analysis.report(TRIALS, control="none")
    paint = r["conditions"]["paint"]
    assert paint["post"]["all"]["trials"] == 6 and paint["post"]["model_incorrect"]["trials"] == 1
    assert paint["post"]["model_incorrect"]["accuracy"]["value"] == 0.0
    assert paint["post"]["model_correct"]["accuracy"]["value"] == pytest.approx((1.0 + 1.0) / 2)
    none = r["conditions"]["none"]
    assert none["post"]["all"]["trials"] == 4 and none["post"]["model_correct"]["trials"] == 2  # None: in neither
    assert "utility" in paint and "utility" not in none
    assert paint["utility"]["value"] == pytest.approx(0.625)


def test_one_participant_has_no_interval_and_none_has_no_value():
    assert analysis.bootstrap_mean([0.5]).low is None
    assert analysis.bootstrap_mean([]).value is None
    interval = analysis.bootstrap_mean([0.0, 1.0] * 20)
    assert interval.low < 0.5 < interval.high and interval.high - interval.low < 0.4


def test_shared_interest_against_counted_cells():
    person = np.array([[1.0, 1.0, 0.0], [0.6, 0.0, 0.0]])  # three cells painted
    model = np.array([[0.9, 0.1, 0.5], [0.4, 0.0, 0.0]])   # salient (>= 0.35 x 0.9): 0.9, 0.5, 0.4
    si = analysis.shared_interest(person, model)
    assert si == {"iou": 2 / 4, "ground_truth_coverage": 2 / 3, "saliency_coverage": 2 / 3}
    assert analysis.shared_interest(np.zeros((2, 3)), model) is None
    assert analysis.shared_interest(person, np.zeros((2, 3))) is None


def test_intervals_are_the_documented_seeded_bootstrap_over_participants():
    """2000 resamples of participants drawn by numpy's default_rng(0), the 2.5th and 97.5th
    percentiles: with twelve participants an unseeded draw would move the interval."""
    scores = [0.13, 0.37, 0.52, 0.61, 0.08, 0.95, 0.77, 0.29, 0.44, 0.83, 0.66, 0.21]  # mean confidences, say
    control = [0.05, 0.31, 0.26, 0.58, 0.12, 0.71, 0.49, 0.22]
    rng = np.random.default_rng(0)
    data = np.asarray(scores)
    means = data[rng.integers(0, len(data), (2000, len(data)))].mean(axis=1)
    got = analysis.bootstrap_mean(scores)
    assert [got.value, got.low, got.high] == pytest.approx(
        [data.mean(), *np.quantile(means, [0.025, 0.975])], rel=1e-12) and got.participants == 12
    rng = np.random.default_rng(0)
    a, b = data, np.asarray(control)
    differences = (a[rng.integers(0, 12, (2000, 12))].mean(axis=1) - b[rng.integers(0, 8, (2000, 8))].mean(axis=1))
    got = analysis.bootstrap_difference(scores, control)
    assert [got.value, got.low, got.high] == pytest.approx(
        [a.mean() - b.mean(), *np.quantile(differences, [0.025, 0.975])], rel=1e-12) and got.participants == 20
    assert analysis.bootstrap_mean(scores, seed=1) != analysis.bootstrap_mean(scores)  # the seed is what fixes it
