"""Logits to probabilities to the top-k classes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_TOP_K = 5  # classes in an answer when a request asks for none; ranked with every batch


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a N x C array, computed stably."""
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    exp /= exp.sum(axis=-1, keepdims=True)
    return exp


def top_k(probabilities: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k most probable classes of one row, highest first (ties: lower index first)."""
    return rank(probabilities[None], k)[0].best


@dataclass(frozen=True, eq=False)
class Ranked:
    """One image's class probabilities, with its most probable classes ranked where the batch ran
    (in the model's worker thread, for the whole batch at once, not per request on the event loop)."""

    probabilities: np.ndarray  # C
    best: list[tuple[int, float]]  # the first classes of top_k's order

    def top(self, k: int) -> list[tuple[int, float]]:
        return self.best[:k] if k <= len(self.best) else top_k(self.probabilities, k)


def rank(probabilities: np.ndarray, k: int) -> list[Ranked]:
    """Ranked rows of a N x C array: the k most probable classes of each, in top_k's order.

    Few numpy calls and k-item sorts in Python: this runs after every model run, when the
    caches hold the model's weights and each numpy call costs several times its usual ~5 us.
    """
    k = min(k, probabilities.shape[-1])
    candidates = np.argpartition(-probabilities, k - 1, axis=1)[:, :k]
    values = probabilities[np.arange(len(probabilities))[:, None], candidates]
    return [Ranked(row, sorted(zip(i, v), key=_by_probability_then_index))
            for row, i, v in zip(probabilities, candidates.tolist(), values.tolist())]


def _by_probability_then_index(pair: tuple[int, float]) -> tuple[float, int]:
    return -pair[1], pair[0]
