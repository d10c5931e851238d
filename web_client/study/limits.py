"""How often a participant may write: a token bucket per participant (a pure policy, and the
small in-process table that keeps one bucket each)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

WRITES_PER_S = 10.0  # a live painter classifies a few times a second; a script far more
BURST = 30
MAX_BUCKETS = 100_000  # participants remembered at once; the oldest are forgotten first


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float


def take(bucket: Bucket | None, now: float, rate: float = WRITES_PER_S, burst: float = BURST) -> tuple[bool, Bucket]:
    """Whether one more write is allowed at `now`, and the bucket after it."""
    if bucket is None:
        bucket = Bucket(burst, now)
    tokens = min(burst, bucket.tokens + (now - bucket.at) * rate)
    if tokens < 1:
        return False, Bucket(tokens, now)
    return True, Bucket(tokens - 1, now)


class WriteLimits:
    """One bucket per participant, for one web process."""

    def __init__(self, rate: float = WRITES_PER_S, burst: float = BURST, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, participant_id: str) -> bool:
        with self._lock:
            allowed, self._buckets[participant_id] = take(self._buckets.pop(participant_id, None), self.clock(),
                                                          self.rate, self.burst)
            while len(self._buckets) > MAX_BUCKETS:  # dicts keep insertion order: the first is the oldest
                del self._buckets[next(iter(self._buckets))]
            return allowed
