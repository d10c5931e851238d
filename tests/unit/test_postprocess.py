"""Postprocessing: softmax, top-k and ranking a whole batch."""

import numpy as np

from inference_service.batching.postprocess import rank, softmax, top_k


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
