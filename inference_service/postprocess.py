"""Logits to probabilities to the top-k classes."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a N x C array, computed stably."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def top_k(probabilities: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k most probable classes of one row, highest first (ties: lower index first)."""
    k = min(k, probabilities.shape[-1])
    candidates = np.argpartition(-probabilities, k - 1)[:k]
    order = sorted(candidates.tolist(), key=lambda i: (-probabilities[i], i))
    return [(i, float(probabilities[i])) for i in order]
