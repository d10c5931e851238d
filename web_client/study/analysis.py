"""The figures papers on simulatability report, from trial-level rows, as pure functions: simulation
accuracy, mean confidence and calibration, each condition's utility against the control (Colin et
al., NeurIPS 2022: the gain in simulation accuracy over a no-explanation group), with seeded
bootstrap 95% intervals; and Shared Interest's agreement of a person's region with the model's
(Boggust et al., CHI 2022).

A trial row is a mapping with `participant`, `condition`, `phase` ("pre" or "post"), `correct`
(bool: the participant simulated the model right), `confidence` (1-5) and `model_correct` (bool,
or None when the photo has no true label). Intervals resample participants, not trials (a
participant's trials are not independent): the percentile bootstrap of the statistic over
BOOTSTRAP_RESAMPLES resamples drawn with BOOTSTRAP_SEED, so the same data give the same interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
LEVEL = 0.95
CONFIDENCE_LEVELS = (1, 2, 3, 4, 5)
# The model's region for Shared Interest: cells that cost the class at least this share of the
# largest drop (the same rule make experiments uses to find the object).
SALIENT_SHARE = 0.35


@dataclass(frozen=True)
class Estimate:
    """A figure, its bootstrap interval (`low`, `high`; None with fewer than two participants) and
    how many participants it rests on."""

    value: float | None
    low: float | None
    high: float | None
    participants: int

    def to_json(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "participants": self.participants}


def per_participant(trials: Iterable[Mapping], value: Callable[[Mapping], float]) -> dict[str, float]:
    """Each participant's mean of `value` over their trials."""
    sums: dict[str, list[float]] = {}
    for trial in trials:
        sums.setdefault(trial["participant"], []).append(float(value(trial)))
    return {p: float(np.mean(v)) for p, v in sums.items()}


def bootstrap_mean(values: list[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Estimate:
    """The mean of per-participant values and its percentile bootstrap interval."""
    if not values:
        return Estimate(None, None, None, 0)
    data = np.asarray(values, float)
    if len(data) < 2:
        return Estimate(float(data.mean()), None, None, len(data))
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), (resamples, len(data)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return Estimate(float(data.mean()), float(low), float(high), len(data))


def bootstrap_difference(treated: list[float], control: list[float], resamples: int = BOOTSTRAP_RESAMPLES,
                         seed: int = BOOTSTRAP_SEED) -> Estimate:
    """mean(treated) - mean(control) of per-participant values, each group resampled on its own."""
    if not treated or not control:
        return Estimate(None, None, None, len(treated) + len(control))
    a, b = np.asarray(treated, float), np.asarray(control, float)
    value = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return Estimate(value, None, None, len(a) + len(b))
    rng = np.random.default_rng(seed)
    differences = (a[rng.integers(0, len(a), (resamples, len(a)))].mean(axis=1)
                   - b[rng.integers(0, len(b), (resamples, len(b)))].mean(axis=1))
    low, high = np.quantile(differences, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return Estimate(value, float(low), float(high), len(a) + len(b))


def select(trials: Iterable[Mapping], **where) -> list[Mapping]:
    """The trials whose fields equal `where`'s (model_correct=None keeps every trial)."""
    return [t for t in trials if all(value is None or t.get(key) == value for key, value in where.items())]


def accuracy(trials: Iterable[Mapping]) -> Estimate:
    """Simulation accuracy: the mean over participants of each one's share of trials right."""
    return bootstrap_mean(list(per_participant(trials, lambda t: t["correct"]).values()))


def mean_confidence(trials: Iterable[Mapping]) -> Estimate:
    return bootstrap_mean(list(per_participant(trials, lambda t: t["confidence"]).values()))


def calibration(trials: Iterable[Mapping]) -> dict[int, dict]:
    """Accuracy at each confidence level (1-5): {level: {"accuracy", "trials"}} (accuracy None
    where no trial was answered at that level). A calibrated participant is right more often when
    surer."""
    out = {}
    trials = list(trials)
    for level in CONFIDENCE_LEVELS:
        at = [t for t in trials if t["confidence"] == level]
        out[level] = {"accuracy": float(np.mean([t["correct"] for t in at])) if at else None, "trials": len(at)}
    return out


def utility(trials: Iterable[Mapping], condition: str, control: str, phase: str = "post") -> Estimate:
    """A condition's utility: its simulation accuracy minus the control condition's, in `phase`."""
    trials = list(trials)

    def scores(name: str) -> list[float]:
        return list(per_participant(select(trials, condition=name, phase=phase), lambda t: t["correct"]).values())

    return bootstrap_difference(scores(condition), scores(control))


def report(trials: Iterable[Mapping], control: str | None) -> dict:
    """Every figure by condition and phase, split by whether the model was right (all / correct /
    incorrect), and each condition's utility against `control` (None: no control condition)."""
    trials = list(trials)
    out: dict = {"conditions": {}}
    for condition in sorted({t["condition"] for t in trials}):
        phases = {}
        for phase in ("pre", "post"):
            split = {}
            for name, model_correct in (("all", None), ("model_correct", True), ("model_incorrect", False)):
                # A photo with no true label (model_correct None) is in "all" and in neither split.
                chosen = select(trials, condition=condition, phase=phase, model_correct=model_correct)
                split[name] = {"accuracy": accuracy(chosen).to_json(), "confidence": mean_confidence(chosen).to_json(),
                               "calibration": calibration(chosen), "trials": len(chosen)}
            phases[phase] = split
        out["conditions"][condition] = phases
        if control is not None and condition != control:
            out["conditions"][condition]["utility"] = utility(trials, condition, control).to_json()
    return out


def shared_interest(person: np.ndarray, model: np.ndarray, painted_at: float = 0.5,
                    salient_share: float = SALIENT_SHARE) -> dict | None:
    """Shared Interest between a person's region and the model's, over a map's cells. `person`:
    each cell's painted share (0-1; a cell is theirs from `painted_at`); `model`: the model's drops,
    its region the cells whose drop is at least `salient_share` of the largest. IoU, ground-truth
    coverage (the share of the person's region that the model's covers) and saliency coverage (the
    share of the model's region that the person's covers); None when either region is empty."""
    person = np.asarray(person, float).ravel() >= painted_at
    drops = np.asarray(model, float).ravel()
    top = float(drops.max()) if drops.size else 0.0
    salient = (drops >= salient_share * top) & (drops > 0) if top > 0 else np.zeros_like(person)
    if not person.any() or not salient.any():
        return None
    both = int((person & salient).sum())
    return {"iou": both / int((person | salient).sum()), "ground_truth_coverage": both / int(person.sum()),
            "saliency_coverage": both / int(salient.sum())}
