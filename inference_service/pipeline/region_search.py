"""What flips it, what keeps it: the smallest area of regions whose hiding makes a class lose top-1
(flip), or that alone, with every other region hidden, keeps it top-1 at a share of its
probability (keep), within a budget of classifications.

The policy is pure: `RegionSearch.run` asks `classify(hidden sets)` for probabilities and decides
what to try next. In order (docs/research.md says why, docs/benchmarks.md what each step buys):

1. each region hidden alone: its importance, the drop of the class's log-margin over the runner-up
   (the model's own occlusion, region by region);
2. prefixes of the regions by importance and by importance per area, sizes on a coarse grid, then
   every size below the first that does it;
3. a greedy that adds, each round, the best of the next few candidates re-measured beside what is
   already chosen (regions interact: hiding the head makes the ears matter less);
4. pruning (drop any region the answer does without) and swaps (one region for a smaller one);
5. when every set of smaller area than the best fits in what is left of the budget: all of them,
   smallest first, so the answer is known minimal.

Every set tried counts, whichever step tried it: the smallest that does it is the answer.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable

import numpy as np

CHUNK = 32             # copies asked for at a time: progress in between, the batcher's queue shared
GREEDY_CANDIDATES = 8  # re-measured each greedy round
SWAP_CANDIDATES = 3    # smaller regions tried in place of each region of the answer
SWAP_ROUNDS = 3


class Goal(enum.Enum):
    FLIP = "flip"
    KEEP = "keep"


@dataclass(frozen=True)
class Target:
    """What the search is for: `goal` on `class_index`; keep also needs the class's probability at
    least `least` (a share of its probability in the masked photo)."""

    goal: Goal
    class_index: int
    least: float = 0.0

    def holds(self, probabilities: np.ndarray) -> bool:
        top = int(np.argmax(probabilities))
        if self.goal is Goal.FLIP:
            return top != self.class_index
        return top == self.class_index and bool(probabilities[self.class_index] >= self.least)

    def margin(self, probabilities: np.ndarray) -> float:
        """log p(class) - log p(runner-up): how firmly the class is on top (negative: it is not)."""
        p = np.asarray(probabilities, np.float64)
        others = np.delete(p, self.class_index)
        return math.log(max(p[self.class_index], 1e-30)) - math.log(max(float(others.max()), 1e-30))

    def distance(self, probabilities: np.ndarray) -> float:
        """How far a copy is from doing it (lower is closer): the greedy's guide."""
        if self.goal is Goal.FLIP:
            return self.margin(probabilities)
        short = math.log(max(self.least, 1e-30)) - math.log(max(float(probabilities[self.class_index]), 1e-30))
        return max(-self.margin(probabilities), short)


@dataclass
class Found:
    """The search's answer: `regions` (hidden for flip, kept for keep) or None when nothing tried
    did it; `minimal`: every set of smaller area was tried (for `regions` None: every set was)."""

    regions: tuple[int, ...] | None
    area: float
    probabilities: np.ndarray | None
    minimal: bool
    classifications: int


@dataclass(frozen=True)
class Outcome:
    """What one copy told: whether it does it, its distance (Target.distance) and margin."""

    holds: bool
    distance: float
    margin: float


Classify = Callable[[list[frozenset]], Awaitable[list[np.ndarray]]]
Progress = Callable[[int, "float | None"], None]


class RegionSearch:
    """One search. `areas[r]`: region r's share of the crop; `searchable`: the regions an answer
    may hold; `reaching`: every region that changes the input (keep hides those it does not keep);
    `base`: the probabilities of the masked photo (one classification, already spent)."""

    def __init__(self, target: Target, areas: np.ndarray, searchable: Iterable[int], reaching: Iterable[int],
                 base: np.ndarray, classify: Classify, budget: int, progress: Progress = lambda done, best: None):
        self.target = target
        self.areas = np.asarray(areas, np.float64)
        self.searchable = tuple(sorted(searchable))
        self._all = frozenset(self.searchable)
        self.reaching = frozenset(reaching) | self._all
        self.base = base
        self._classify = classify
        self.budget = budget
        self._progress = progress
        self.used = 1
        self._tried: dict[frozenset, Outcome] = {}  # by hidden set
        self.best: tuple[frozenset, np.ndarray] | None = None  # (hidden set, probabilities)
        self.best_area = math.inf

    # -- sets, and what trying them costs ------------------------------------------------------

    def hidden(self, answer: frozenset) -> frozenset:
        return answer if self.target.goal is Goal.FLIP else self.reaching - answer

    def answer(self, hidden: frozenset) -> frozenset:
        return hidden & self._all if self.target.goal is Goal.FLIP else self._all - hidden

    def area(self, regions: Iterable[int]) -> float:
        return float(sum(self.areas[r] for r in regions))

    @property
    def left(self) -> int:
        return self.budget - self.used

    def holds(self, answer: frozenset) -> bool:
        outcome = self._tried.get(self.hidden(answer))
        return outcome is not None and outcome.holds

    async def try_answers(self, answers: list[frozenset]) -> list[Outcome | None]:
        return await self.try_hidden([self.hidden(a) for a in answers])

    async def try_hidden(self, hidden_sets: list[frozenset]) -> list[Outcome | None]:
        """Each set's outcome (None where the budget ran out first), classifying only sets not
        tried before; the smallest answer that does it becomes the best."""
        new = [h for h in dict.fromkeys(hidden_sets) if h not in self._tried][:max(0, self.left)]
        for start in range(0, len(new), CHUNK):
            chunk = new[start:start + CHUNK]
            for hidden, probabilities in zip(chunk, await self._classify(chunk)):
                holds = self.target.holds(probabilities)
                self._tried[hidden] = Outcome(holds, self.target.distance(probabilities),
                                              self.target.margin(probabilities))
                area = self.area(self.answer(hidden))
                if holds and area < self.best_area:
                    self.best, self.best_area = (hidden, probabilities), area
            self.used += len(chunk)
            self._progress(self.used, None if self.best is None else self.best_area)
        return [self._tried.get(h) for h in hidden_sets]

    # -- the search ----------------------------------------------------------------------------

    async def run(self) -> Found:
        if self.target.goal is Goal.FLIP and self.target.holds(self.base):
            return self._found(frozenset(), self.base, minimal=True)
        importance = await self._importance()
        if importance is not None:
            by_importance = sorted(self.searchable, key=lambda r: -importance[r])
            by_density = sorted(self.searchable, key=lambda r: -importance[r] / self.areas[r])
            for order in (by_importance, by_density):
                await self._prefixes(order)
            await self._greedy(importance)
            for _ in range(SWAP_ROUNDS):
                await self._prune()
                if not await self._swap(importance):
                    break
        minimal = await self._exhaust_lighter()
        if self.best is None:
            return Found(None, 0.0, None, minimal, self.used)
        hidden, probabilities = self.best
        return self._found(hidden, probabilities, minimal)

    def _found(self, hidden: frozenset, probabilities: np.ndarray, minimal: bool) -> Found:
        answer = self.answer(hidden)
        return Found(tuple(sorted(answer)), self.area(answer), probabilities, minimal, self.used)

    async def _importance(self) -> dict[int, float] | None:
        """Each region hidden alone: how much it lowers the class's margin (None: the budget ran
        out first, or keeping nothing already keeps it, so nothing smaller exists)."""
        if self.target.goal is Goal.KEEP:
            await self.try_answers([frozenset()])
            if self.best is not None:
                return None
        outcomes = await self.try_hidden([frozenset([r]) for r in self.searchable])
        if any(o is None for o in outcomes):
            return None
        base = self.target.margin(self.base)
        return {r: base - o.margin for r, o in zip(self.searchable, outcomes)}

    async def _prefixes(self, order: list[int]) -> None:
        """The shortest prefix of `order` that does it: sizes on a coarse grid, then every size
        between the last that did not and the first that did (where it could beat the best)."""
        sizes = _grid(len(order))
        await self.try_answers([frozenset(order[:k]) for k in sizes])
        first = next((k for k in sizes if self.holds(frozenset(order[:k]))), None)
        if first is None:
            return
        below = max((k for k in sizes if k < first), default=0)
        await self.try_answers([frozenset(order[:k]) for k in range(below + 1, first)
                                if self.area(order[:k]) < self.best_area])

    async def _greedy(self, importance: dict[int, float]) -> None:
        """Grow one set, each round adding the candidate that brings it closest per area added,
        among the GREEDY_CANDIDATES ranked best by what is known of them so far."""
        chosen: frozenset = frozenset()
        estimate = {r: importance[r] / self.areas[r] for r in self.searchable}
        (outcome,) = await self.try_answers([chosen])
        while outcome is not None and self.left > 0:
            room = self.best_area - self.area(chosen)
            candidates = sorted((r for r in self.searchable if r not in chosen and self.areas[r] < room),
                                key=lambda r: -estimate[r])[:GREEDY_CANDIDATES]
            if not candidates:
                return
            results = await self.try_answers([chosen | {r} for r in candidates])
            measured = [(r, o) for r, o in zip(candidates, results) if o is not None]
            if not measured or any(o.holds for _, o in measured):
                return  # the best has it: anything grown from here is larger
            for r, o in measured:
                estimate[r] = (outcome.distance - o.distance) / self.areas[r]
            pick, outcome = max(measured, key=lambda ro: estimate[ro[0]])
            chosen = chosen | {pick}

    async def _prune(self) -> None:
        """Drop regions the best does without, until it needs every one."""
        while self.best is not None and self.left > 0:
            answer = self.answer(self.best[0])
            before = self.best_area
            await self.try_answers([answer - {r} for r in answer])
            if self.best_area >= before:
                return

    async def _swap(self, importance: dict[int, float]) -> bool:
        """The best with one region traded for a smaller one (the most important per area first):
        whether that found a smaller answer."""
        if self.best is None or self.left <= 0:
            return False
        answer = self.answer(self.best[0])
        outside = sorted((r for r in self.searchable if r not in answer), key=lambda r: -importance[r] / self.areas[r])
        trials = []
        for r in sorted(answer, key=lambda r: -self.areas[r]):
            smaller = [s for s in outside if self.areas[s] < self.areas[r]][:SWAP_CANDIDATES]
            trials += [(answer - {r}) | {s} for s in smaller]
        before = self.best_area
        await self.try_answers(trials)
        return self.best_area < before

    async def _exhaust_lighter(self) -> bool:
        """Every set lighter than the best (every set, when there is none), smallest first, when
        they fit in the budget left: then the best is known minimal (or known not to exist)."""
        lighter = _sets_lighter_than(self.searchable, self.areas, self.best_area, cap=self.left)
        if lighter is None:
            return False
        lighter.sort(key=self.area)
        for start in range(0, len(lighter), CHUNK):
            if self.area(lighter[start]) >= self.best_area:
                return True
            await self.try_answers(lighter[start:start + CHUNK])
        return True


def _grid(n: int) -> list[int]:
    """Prefix sizes to try first: 1, 2, 3, 4, 6, 8, 11, 16, ... (x1.4), and n."""
    sizes, k = [], 1.0
    while round(k) < n:
        if not sizes or round(k) != sizes[-1]:
            sizes.append(round(k))
        k *= 1.4
    return sizes + [n] if n else sizes


def _sets_lighter_than(regions: tuple[int, ...], areas: np.ndarray, bound: float, cap: int) -> list[frozenset] | None:
    """Every non-empty set of `regions` with area below `bound`, or None when there are more than `cap`."""
    ordered = sorted(regions, key=lambda r: areas[r])
    out: list[frozenset] = []

    def grow(start: int, chosen: list[int], total: float) -> bool:
        for i in range(start, len(ordered)):
            area = total + areas[ordered[i]]
            if area >= bound:
                return True  # the rest are larger
            out.append(frozenset(chosen + [ordered[i]]))
            if len(out) > cap or not grow(i + 1, chosen + [ordered[i]], area):
                return False
        return True

    return out if grow(0, [], 0.0) else None

