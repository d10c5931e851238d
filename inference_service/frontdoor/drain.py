"""Taking in every call that was sent before a stop, before the server stops taking calls.

gRPC cancels the calls that have reached the server but not yet a handler when the server stops
(grpc/grpc#41785: CANCELLED, not even UNAVAILABLE), so a busy server that stops at once loses
work its clients sent before the signal. The server first lets its loop accept calls until none
has arrived for a short while, then stops; what it accepted gets the grace period.
"""

from __future__ import annotations

import asyncio
import time

import grpc

QUIET_S = 0.05   # no call accepted for this long: the backlog is in
LONGEST_S = 2.0  # and never longer than this (or the grace period), however busy


class CallCounter(grpc.aio.ServerInterceptor):
    """Counts the calls the server has accepted (each reaches intercept_service once)."""

    def __init__(self):
        self.calls = 0

    async def intercept_service(self, continuation, handler_call_details):
        self.calls += 1
        return await continuation(handler_call_details)


def drained(counts: list[int], elapsed_s: float, quiet_checks: int, longest_s: float) -> bool:
    """Whether to stop waiting: the last `quiet_checks` + 1 counts are equal, or time is up."""
    if elapsed_s >= longest_s:
        return True
    return len(counts) > quiet_checks and len(set(counts[-quiet_checks - 1:])) == 1


async def accept_backlog(counter: CallCounter, grace_s: float, quiet_s: float = QUIET_S,
                         longest_s: float = LONGEST_S) -> int:
    """Waits while calls keep arriving; returns how many were accepted meanwhile."""
    started, first = time.monotonic(), counter.calls
    counts, step = [first], quiet_s / 2
    while not drained(counts, time.monotonic() - started, 2, min(longest_s, grace_s)):
        await asyncio.sleep(step)
        counts.append(counter.calls)
    return counter.calls - first
