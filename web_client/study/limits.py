"""How often a participant may write: a token bucket per participant (a pure policy, and the
small in-process table that keeps one bucket each)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from web_client.limits import STUDY_WRITE_BURST, STUDY_WRITERS_REMEMBERED, STUDY_WRITES_PER_S


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float


def take(bucket: Bucket | None, now: float, rate: float = STUDY_WRITES_PER_S,
         burst: float = STUDY_WRITE_BURST) -> tuple[bool, Bucket]:
    """Whether one more write is allowed at `now`, and the bucket after it."""
    if bucket is None:
        bucket = Bucket(burst, now)
    tokens = min(burst, bucket.tokens + (now - bucket.at) * rate)
    if tokens < 1:
        return False, Bucket(tokens, now)
    return True, Bucket(tokens - 1, now)


class WriteLimits:
    """One bucket per participant, for one web process."""

    def __init__(self, rate: float = STUDY_WRITES_PER_S, burst: float = STUDY_WRITE_BURST, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, participant_id: str) -> bool:
        with self._lock:
            allowed, self._buckets[participant_id] = take(self._buckets.pop(participant_id, None), self.clock(),
                                                          self.rate, self.burst)
            while len(self._buckets) > STUDY_WRITERS_REMEMBERED:  # dicts keep insertion order: the first is the oldest
                del self._buckets[next(iter(self._buckets))]
            return allowed
