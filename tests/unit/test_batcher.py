"""DynamicBatcher: what runs together, when, and what each caller gets back."""

import asyncio
import collections
import threading
import time

import pytest

from inference_service.batching.batcher import (BULK, INTERACTIVE, Arrivals, BatchPolicy, Deferred, DynamicBatcher,
                                                Pending, take_batch)
from inference_service.errors import DeadlineExceeded, ResourceExhausted, Unavailable


class Model:
    """Records every batch; can be held on an event to let a queue build up behind it."""

    def __init__(self, fail_on=None, hold: threading.Event | None = None):
        self.batches: list[list] = []
        self.fail_on = fail_on
        self.hold = hold
        self.started = threading.Event()

    def __call__(self, items, worker=0, more_waiting=False):
        self.started.set()
        if self.hold is not None:
            assert self.hold.wait(5)
        self.batches.append(list(items))
        if self.fail_on is not None and self.fail_on in items:
            raise RuntimeError("model run failed")
        return [item * 10 for item in items]


async def started(batcher):
    batcher.start()
    return batcher


async def held(first_item=0, fail_on=None, **options):
    """A started batcher whose model is held inside a first batch (of `first_item`): what is
    submitted next queues up until `hold` is set. Returns (batcher, model, hold, the first request)."""
    hold = threading.Event()
    model = Model(fail_on=fail_on, hold=hold)
    batcher = await started(DynamicBatcher(model, max_delay_s=0.0, **options))
    first = asyncio.ensure_future(batcher.submit(first_item))
    await asyncio.to_thread(model.started.wait, 5)
    return batcher, model, hold, first


async def test_full_batch_runs_at_once_without_waiting_for_the_delay():
    model = Model()
    batcher = await started(DynamicBatcher(model, max_batch_size=4, max_delay_s=10.0))
    t0 = time.monotonic()
    results = await asyncio.gather(*(batcher.submit(i) for i in range(4)))
    assert time.monotonic() - t0 < 2.0
    assert model.batches == [[0, 1, 2, 3]]
    assert [output for output, _ in results] == [0, 10, 20, 30]
    assert all(stats.size == 4 for _, stats in results)
    await batcher.stop()


async def test_partial_batch_runs_after_the_delay_from_the_first_request():
    model = Model()
    batcher = await started(DynamicBatcher(model, max_batch_size=8, max_delay_s=0.2))
    t0 = time.monotonic()
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0.1)
    second = asyncio.ensure_future(batcher.submit(2))
    await asyncio.gather(first, second)
    elapsed = time.monotonic() - t0
    assert model.batches == [[1, 2]]
    assert 0.19 <= elapsed < 0.29, "the delay counts from the first request, not the last"
    await batcher.stop()


async def test_outputs_are_matched_one_to_one_while_the_model_is_busy():
    hold = threading.Event()
    model = Model(hold=hold)
    batcher = await started(DynamicBatcher(model, max_batch_size=3, max_delay_s=0.0))
    tasks = [asyncio.ensure_future(batcher.submit(0))]
    await asyncio.to_thread(model.started.wait, 5)
    tasks += [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 7)]
    await asyncio.sleep(0.05)  # the rest queue up behind the held first batch
    hold.set()
    results = await asyncio.gather(*tasks)
    assert [output for output, _ in results] == [i * 10 for i in range(7)]
    assert model.batches[0] == [0]
    assert [len(b) for b in model.batches[1:]] == [3, 3]
    assert batcher.largest_batch == 3
    await batcher.stop()


async def test_a_failed_run_fails_every_request_of_that_batch_only():
    batcher, model, hold, first = await held(1, fail_on=13, max_batch_size=2)
    bad_batch = [asyncio.ensure_future(batcher.submit(i)) for i in (12, 13)]
    good_batch = [asyncio.ensure_future(batcher.submit(i)) for i in (14, 15)]
    await asyncio.sleep(0.05)
    hold.set()
    assert (await first)[0] == 10
    for task in bad_batch:
        with pytest.raises(RuntimeError, match="model run failed"):
            await task
    assert [(await t)[0] for t in good_batch] == [140, 150]
    await batcher.stop()


async def test_a_run_that_raises_a_base_exception_fails_its_batch_and_the_worker_goes_on():
    def run(items, worker, more_waiting):
        if 13 in items:
            raise SystemExit("a model's code called exit()")
        return [item * 10 for item in items]

    batcher = await started(DynamicBatcher(run, max_batch_size=1, max_delay_s=0.0))
    with pytest.raises(RuntimeError, match="worker was interrupted.*exit"):
        await asyncio.wait_for(batcher.submit(13), 5)
    assert (await asyncio.wait_for(batcher.submit(14), 5))[0] == 140  # the same, only worker
    await batcher.stop()


async def test_wrong_number_of_outputs_is_an_error_for_all():
    batcher = await started(DynamicBatcher(lambda items, worker, more_waiting: [0], max_batch_size=2, max_delay_s=0.5))
    results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and "1 outputs for 2 inputs" in str(r) for r in results)
    await batcher.stop()


async def test_full_queue_is_refused_at_once():
    batcher, model, hold, running = await held(max_batch_size=1, max_queue_size=2)
    queued = [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
    await asyncio.sleep(0)
    t0 = time.monotonic()
    with pytest.raises(ResourceExhausted, match="2 requests queued"):
        await batcher.submit(3)
    assert time.monotonic() - t0 < 0.1
    hold.set()
    assert [(await t)[0] for t in (running, *queued)] == [0, 10, 20]
    await batcher.stop()


async def test_a_request_whose_deadline_passes_in_the_queue_is_not_run():
    batcher, model, hold, running = await held(max_batch_size=4)
    late = asyncio.ensure_future(batcher.submit(1, deadline=time.monotonic() + 0.05))
    on_time = asyncio.ensure_future(batcher.submit(2, deadline=time.monotonic() + 30))
    await asyncio.sleep(0.1)
    hold.set()
    await running
    with pytest.raises(DeadlineExceeded, match="not run"):
        await late
    assert (await on_time)[0] == 20
    assert [1] not in model.batches and all(1 not in batch for batch in model.batches)
    await batcher.stop()


async def test_stop_fails_what_is_still_queued():
    batcher, model, hold, _ = await held(max_batch_size=1)
    queued = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0)
    stopping = asyncio.ensure_future(batcher.stop())
    await asyncio.sleep(0.05)
    hold.set()
    await stopping
    with pytest.raises(Unavailable):
        await queued
    with pytest.raises(Unavailable):
        await batcher.submit(2)


async def test_a_lone_request_does_not_wait_when_nothing_else_is_expected():
    model = Model()
    batcher = await started(DynamicBatcher(model, max_batch_size=8, max_delay_s=5.0, arrivals=Arrivals()))
    t0 = time.monotonic()
    await batcher.submit(1)
    assert time.monotonic() - t0 < 1.0
    await batcher.stop()


async def test_the_batcher_waits_for_requests_it_expects():
    model = Model()
    on_their_way = Arrivals()
    sizes = []
    batcher = await started(DynamicBatcher(model, max_batch_size=8, max_delay_s=5.0, arrivals=on_their_way,
                                           on_batch=lambda size, seconds: sizes.append(size)))
    with on_their_way.expect():
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.2)
        assert not first.done(), "one more request is expected: wait for it"
    await batcher.submit(2)
    await first
    for _ in range(100):  # the worker reports the batch just after handing back its answers
        if sizes:
            break
        await asyncio.sleep(0.01)
    assert model.batches == [[1, 2]] and sizes == [2]
    # The last batch held 2: a lone request now waits (up to the delay) for a second one.
    late = asyncio.ensure_future(batcher.submit(3))
    await asyncio.sleep(0.1)
    assert not late.done()
    await batcher.submit(4)
    assert model.batches[-1] == [3, 4]
    await batcher.stop()


async def test_two_batches_may_run_at_once_and_a_third_waits():
    hold = threading.Event()
    model = Model(hold=hold)
    batcher = await started(DynamicBatcher(model, max_batch_size=1, max_delay_s=0.0, workers=2))
    tasks = [asyncio.ensure_future(batcher.submit(i)) for i in range(3)]
    await asyncio.sleep(0.2)
    assert batcher.queue_depth == 1, "two runs are held at once; the third request waits"
    hold.set()
    assert [(await t)[0] for t in tasks] == [0, 10, 20]
    await batcher.stop()


async def test_one_client_after_another_is_served_by_the_same_worker():
    """The model runs markedly slower when its calls keep moving between threads."""
    threads = []
    batcher = await started(DynamicBatcher(lambda items, worker, more_waiting: threads.append(threading.get_ident()) or items,
                                           max_batch_size=4, max_delay_s=0.0, workers=2))
    for i in range(6):
        await batcher.submit(i)
        await asyncio.sleep(0.01)  # the other worker is idle and waiting too
    assert len(threads) == 6 and len(set(threads)) == 1
    await batcher.stop()


async def test_deferred_items_are_made_by_the_worker_and_a_failing_one_fails_alone():
    batcher, model, hold, first = await held(max_batch_size=4)
    made_in = []

    def make(value):
        made_in.append(threading.current_thread().name)
        time.sleep(0.01)
        return value

    def broken():
        raise ValueError("this mask is damaged")

    batch = [asyncio.ensure_future(batcher.submit(item)) for item in
             (Deferred(lambda: make(1)), Deferred(broken), 2, Deferred(lambda: make(3)))]
    await asyncio.sleep(0.05)
    hold.set()
    await first
    results = await asyncio.gather(*batch, return_exceptions=True)
    assert isinstance(results[1], ValueError) and "damaged" in str(results[1])
    assert [results[i][0] for i in (0, 2, 3)] == [10, 20, 30]
    assert model.batches[1] == [1, 2, 3], "the failed item is left out of the run, the rest run together"
    assert results[0][1].prepare_s >= 0.01 and results[2][1].prepare_s == 0
    assert made_in and all(name.startswith("infer-") for name in made_in)
    await batcher.stop()


async def test_each_worker_is_set_up_in_its_own_thread_and_a_failing_set_up_does_not_stop_it():
    seen = {}

    def worker_started(index):
        seen[index] = threading.current_thread().name
        raise OSError("affinity refused")  # every worker's: none may die of it

    batcher = await started(DynamicBatcher(Model(), max_delay_s=0.0, workers=3,
                                           worker_started=worker_started, name="m"))
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(12))), 10)
    assert [output for output, _ in results] == [i * 10 for i in range(12)]
    assert seen == {0: "infer-m-0", 1: "infer-m-1", 2: "infer-m-2"}
    await batcher.stop()


def queued(*priorities, start=0.0):
    """Pending requests named by their index, with these priorities, queued a millisecond apart."""
    return [Pending(i, sink=None, token=None, enqueued_at=start + i * 1e-3, priority=p) for i, p in enumerate(priorities)]


def split(pendings):
    return (collections.deque(p for p in pendings if p.priority == INTERACTIVE),
            collections.deque(p for p in pendings if p.priority == BULK))


@pytest.mark.parametrize("priorities, policy, now, expected", [
    # Interactive first, whatever came before; bulk fills what is left (a GPU's policy).
    ((BULK, BULK, INTERACTIVE, INTERACTIVE), BatchPolicy(4, 4, True), 0.1, [2, 3, 0, 1]),
    ((BULK, BULK, BULK, INTERACTIVE), BatchPolicy(2, 2, True), 0.1, [3, 0]),
    # The CPU's policy: bulk never joins painters, and runs in small batches of its own.
    ((BULK, BULK, INTERACTIVE), BatchPolicy(4, 2, False), 0.1, [2]),
    ((BULK, BULK, BULK), BatchPolicy(4, 2, False), 0.1, [0, 1]),
    # A bulk request that waited longer than bulk_max_wait_s goes first, even on the CPU.
    ((BULK, INTERACTIVE, INTERACTIVE), BatchPolicy(2, 2, False, bulk_max_wait_s=1.0), 1.5, [0, 1]),
    ((BULK, INTERACTIVE), BatchPolicy(2, 2, False, bulk_max_wait_s=1.0), 0.5, [1]),
])
def test_take_batch(priorities, policy, now, expected):
    interactive, bulk = split(queued(*priorities))
    batch = take_batch(interactive, bulk, policy, now)
    assert [p.item for p in batch] == expected
    assert len(interactive) + len(bulk) == len(priorities) - len(expected), "what was taken left the queues"


async def test_painters_run_before_bulk_work_queued_earlier():
    batcher, model, hold, first = await held(max_batch_size=2)
    bulk = [asyncio.ensure_future(batcher.submit(i, priority=BULK)) for i in (1, 2, 3)]
    await asyncio.sleep(0.02)
    painter = asyncio.ensure_future(batcher.submit(9))
    await asyncio.sleep(0.02)
    hold.set()
    await asyncio.gather(first, painter, *bulk)
    assert model.batches[1][0] == 9, f"the painter's request runs first: {model.batches}"
    await batcher.stop()


async def test_a_cancelled_request_leaves_the_queue_and_never_runs():
    batcher, model, hold, first = await held(max_batch_size=4)
    gone = asyncio.ensure_future(batcher.submit(7, priority=BULK))
    kept = asyncio.ensure_future(batcher.submit(8, priority=BULK))
    await asyncio.sleep(0.02)
    assert batcher.queue_depth == 2
    gone.cancel()
    await asyncio.sleep(0.02)
    assert batcher.queue_depth == 1, "the caller went away: its request is dropped at once"
    hold.set()
    await first
    assert (await kept)[0] == 80
    assert all(7 not in batch for batch in model.batches)
    await batcher.stop()


async def test_bulk_work_completes_while_painters_keep_the_model_busy():
    """Painters alone could fill every batch; a bulk request that has waited long enough joins anyway."""
    def run(items, worker, more_waiting):
        time.sleep(0.005)
        return items

    batcher = await started(DynamicBatcher(run, max_batch_size=2, max_delay_s=0.0, max_bulk_batch_size=2,
                                           mix_bulk=False, bulk_max_wait_s=0.05))
    stop = asyncio.Event()

    async def painter(k):
        while not stop.is_set():
            await batcher.submit(k)

    painters = [asyncio.ensure_future(painter(k)) for k in range(6)]
    await asyncio.sleep(0.05)
    bulk = await asyncio.wait_for(asyncio.gather(*(batcher.submit(100 + i, priority=BULK) for i in range(5))), 20)
    stop.set()
    await asyncio.gather(*painters)
    assert [output for output, _ in bulk] == [100, 101, 102, 103, 104]
    await batcher.stop()


async def test_bulk_work_never_takes_the_last_quarter_of_the_queue_from_painters():
    batcher, model, hold, running = await held(max_batch_size=1, max_queue_size=8)
    bulk = [asyncio.ensure_future(batcher.submit(i, priority=BULK)) for i in range(6)]
    await asyncio.sleep(0.02)
    with pytest.raises(ResourceExhausted, match="6 requests queued"):
        await batcher.submit(99, priority=BULK)
    painters = [asyncio.ensure_future(batcher.submit(100 + i)) for i in range(2)]  # still room for them
    await asyncio.sleep(0.02)
    assert batcher.queue_depth == 8
    hold.set()
    assert [(await t)[0] for t in painters] == [1000, 1010]
    await asyncio.gather(running, *bulk)
    await batcher.stop()
