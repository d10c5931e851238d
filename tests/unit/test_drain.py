"""The stop's backlog rule: wait while calls keep arriving, never past the limit."""

import asyncio

from inference_service.frontdoor.drain import CallCounter, accept_backlog, drained


def test_quiet_counts_or_time_up_end_the_wait():
    assert not drained([5], 0.0, 2, 1.0)
    assert not drained([5, 6, 6], 0.05, 2, 1.0)  # a call came in one check ago
    assert drained([5, 6, 6, 6], 0.07, 2, 1.0)
    assert drained([1, 2, 3, 4], 1.0, 2, 1.0)  # still busy, but time is up


def test_calls_arriving_keep_the_server_taking_them():
    async def scenario():
        counter = CallCounter()

        async def arrivals():
            for _ in range(10):
                await asyncio.sleep(0.02)
                counter.calls += 1

        feeding = asyncio.create_task(arrivals())
        taken = await accept_backlog(counter, grace_s=30, quiet_s=0.05)
        await feeding
        return taken

    assert asyncio.run(scenario()) == 10
