"""region_search: the search policy against brute force, on made-up classifiers whose answers are known."""

import asyncio
import itertools
import math

import numpy as np
import pytest

from inference_service.pipeline import region_search
from inference_service.pipeline.region_search import Goal, RegionSearch, Target


class MadeUpModel:
    """Three classes; class 0's logit falls by each hidden region's weight, plus pairwise terms
    (regions that matter together), so greedy orders can be wrong and only a real search is right."""

    def __init__(self, n: int, seed: int, pairs: float = 0.5):
        rng = np.random.default_rng(seed)
        self.weights = rng.exponential(1.0, n)
        self.pairs = rng.normal(0.0, pairs, (n, n))
        self.calls = 0

    def probabilities(self, hidden: frozenset) -> np.ndarray:
        h = np.zeros(len(self.weights))
        h[list(hidden)] = 1
        logit = 4.0 - self.weights @ h - h @ np.triu(self.pairs, 1) @ h
        logits = np.array([logit, 1.5, 0.5])
        p = np.exp(logits - logits.max())
        return p / p.sum()

    async def classify(self, hidden_sets):
        self.calls += len(hidden_sets)
        assert len(hidden_sets) <= region_search.CHUNK
        return [self.probabilities(h) for h in hidden_sets]


def areas_for(n: int, seed: int) -> np.ndarray:
    areas = np.random.default_rng(seed + 100).uniform(0.5, 2.0, n)
    return areas / areas.sum() * 0.9


def brute_force(model: MadeUpModel, target: Target, areas, regions) -> float:
    """The least area of any set that does it (hidden for flip, kept for keep), or inf."""
    best = math.inf
    everything = frozenset(regions)
    for size in range(len(regions) + 1):
        for answer in itertools.combinations(regions, size):
            hidden = frozenset(answer) if target.goal is Goal.FLIP else everything - frozenset(answer)
            if target.holds(model.probabilities(hidden)):
                best = min(best, float(sum(areas[r] for r in answer)))
    return best


def run(search: RegionSearch) -> region_search.Found:
    return asyncio.run(search.run())


def make(goal: Goal, n: int, seed: int, budget: int = 2000, least_share: float = 0.9, pairs: float = 0.5):
    model = MadeUpModel(n, seed, pairs)
    base = model.probabilities(frozenset())
    target = Target(goal, 0, least_share * base[0] if goal is Goal.KEEP else 0.0)
    areas = areas_for(n, seed)
    return model, target, areas, RegionSearch(target, areas, range(n), range(n), base, model.classify, budget)


@pytest.mark.parametrize("goal", [Goal.FLIP, Goal.KEEP])
@pytest.mark.parametrize("seed", range(8))
def test_small_searches_equal_brute_force_and_say_so(goal, seed):
    model, target, areas, search = make(goal, 9, seed)
    found = run(search)
    optimum = brute_force(model, target, areas, range(9))
    assert found.minimal
    if math.isinf(optimum):
        assert found.regions is None
    else:
        assert found.area == pytest.approx(optimum)
        assert target.holds(model.probabilities(search.hidden(frozenset(found.regions))))
        assert found.area == pytest.approx(sum(areas[r] for r in found.regions))


@pytest.mark.parametrize("goal", [Goal.FLIP, Goal.KEEP])
def test_the_budget_is_never_exceeded(goal):
    for budget in (1, 2, 5, 40, 150):
        model, _, _, search = make(goal, 60, seed=3, budget=budget)
        found = run(search)
        assert model.calls + 1 == found.classifications <= budget  # +1: the base, spent by the caller
        assert not found.minimal or found.regions is not None


def test_a_large_search_finds_what_does_it_within_its_budget():
    model, target, areas, search = make(Goal.FLIP, 150, seed=5, budget=2000, pairs=0.05)
    found = run(search)
    assert found.regions and target.holds(model.probabilities(frozenset(found.regions)))
    assert found.classifications <= 2000
    # No region of the answer is spare: without any one of them it no longer flips.
    for r in found.regions:
        assert not target.holds(model.probabilities(frozenset(found.regions) - {r}))


def test_a_flip_already_flipped_is_the_empty_set():
    model = MadeUpModel(5, 0)
    base = model.probabilities(frozenset())
    search = RegionSearch(Target(Goal.FLIP, 2), areas_for(5, 0), range(5), range(5), base, model.classify, 100)
    found = run(search)
    assert found.regions == () and found.minimal and model.calls == 0


def test_progress_is_reported_as_copies_are_classified():
    model, _, _, search = make(Goal.FLIP, 40, seed=1)
    seen = []
    search._progress = lambda done, best: seen.append((done, best))
    found = run(search)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] == found.classifications
    bests = [b for _, b in seen if b is not None]
    assert bests == sorted(bests, reverse=True) and bests[-1] == pytest.approx(found.area)


def test_the_lighter_sets_are_all_enumerated_or_none():
    areas = np.array([0.1, 0.2, 0.3, 0.4])
    lighter = region_search._sets_lighter_than((0, 1, 2, 3), areas, 0.45, cap=100)
    assert sorted(sorted(s) for s in lighter) == [[0], [0, 1], [0, 2], [1], [2], [3]]
    assert region_search._sets_lighter_than((0, 1, 2, 3), areas, 0.45, cap=5) is None
    assert region_search._grid(20) == [1, 2, 3, 4, 5, 8, 11, 15, 20]


@pytest.mark.parametrize("probabilities, goal, least, holds", [
    ([0.5, 0.3, 0.2], Goal.FLIP, 0, False),
    ([0.3, 0.5, 0.2], Goal.FLIP, 0, True),
    ([0.5, 0.3, 0.2], Goal.KEEP, 0.45, True),
    ([0.5, 0.3, 0.2], Goal.KEEP, 0.55, False),
    ([0.4, 0.45, 0.15], Goal.KEEP, 0.1, False),
])
def test_what_does_it(probabilities, goal, least, holds):
    target = Target(goal, 0, least)
    assert target.holds(np.array(probabilities)) is holds
    assert (target.distance(np.array(probabilities)) <= 0) is holds or goal is Goal.FLIP


def test_a_pair_that_only_works_together_is_found_by_the_exhaustive_step():
    """Regions 0 and 1 (small) flip the class only together; region 2 (large) flips it alone; the
    others do nothing. Every ranking puts region 2 first: only trying every lighter set finds the pair."""

    class Pair(MadeUpModel):
        def probabilities(self, hidden):
            flipped = {0, 1} <= hidden or 2 in hidden
            return np.array([0.2, 0.7, 0.1]) if flipped else np.array([0.7, 0.2, 0.1])

    model = Pair(6, 0)
    areas = np.array([0.05, 0.05, 0.3, 0.1, 0.1, 0.1])
    search = RegionSearch(Target(Goal.FLIP, 0), areas, range(6), range(6), model.probabilities(frozenset()),
                          model.classify, 500)
    found = run(search)
    assert found.regions == (0, 1) and found.minimal and found.area == pytest.approx(0.1)

    # The exhaustive step alone, from the large region as the best so far:
    search = RegionSearch(Target(Goal.FLIP, 0), areas, range(6), range(6), model.probabilities(frozenset()),
                          model.classify, 500)

    async def from_the_large_region():
        await search.try_answers([frozenset([2])])
        assert search.best_area == pytest.approx(0.3)
        return await search._exhaust_lighter()

    assert asyncio.run(from_the_large_region())
    assert search.answer(search.best[0]) == {0, 1}
