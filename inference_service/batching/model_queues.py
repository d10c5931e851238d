"""The model side of serving: one dynamic batcher per loaded model, and the step each batch runs."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

from inference_service.batching.batcher import INTERACTIVE, Arrivals, DynamicBatcher, Pending
from inference_service.batching.postprocess import DEFAULT_TOP_K, Ranked, rank, softmax
from inference_service.metrics import Metrics
from inference_service.runtimes.cpu_runner import CPU
from inference_service.runtimes.models import Catalog, ModelRegistry, OnnxModel

# On the CPU every image in a batch costs its own time: bulk work (Explain's copies) runs in
# batches this small, so a painter who arrives waits for one of them at most.
CPU_BULK_BATCH_SIZE = 1


@dataclass(frozen=True)
class BatchLimits:
    """How each model's batcher forms batches (the server's flags of the same names)."""

    max_batch_size: int = 16
    max_delay_s: float = 0.002
    max_queue_size: int = 256
    bulk_batch_size: int = 0  # 0: CPU_BULK_BATCH_SIZE on the CPU, max_batch_size on a GPU


def infer_and_rank(model: OnnxModel, inputs: list, worker: int, more_waiting: bool) -> list[Ranked]:
    """One batch: the model's logits, their softmax (unless the model gives probabilities itself),
    each row's top classes (ranked here, for the whole batch at once, in the worker thread rather
    than per request on an event loop)."""
    outputs = model.run(inputs, worker, more_waiting)
    return rank(outputs if model.metadata.output == "probabilities" else softmax(outputs), DEFAULT_TOP_K)


class Queues(Protocol):
    """What the request pipeline (pipeline/classification.py) needs of the models' batchers: this
    process's (ModelQueues) or the model process's across the link (model_link.RemoteModelQueues)."""

    catalog: Catalog

    def arrivals(self, model: str) -> Arrivals:
        """The model's requests on their way (being decoded), which its batcher waits for."""

    def makes_inputs(self, model: str) -> bool:
        """Whether the model's worker makes a cheap input itself, just before the run."""

    async def submit(self, model: str, item, deadline: float | None = None,
                     priority: int = INTERACTIVE) -> tuple[Ranked, object]:
        """The item's ranked classes and its BatchStats, once its batch has run."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class ModelQueues:
    """A batcher per model of `registry`, its metrics, and `submit` for asyncio callers (Queues).
    Each batcher counts the requests on their way to it (`arrivals`): its workers wait for
    company only while some are expected, and a batch does not take every core while more come."""

    def __init__(self, registry: ModelRegistry, limits: BatchLimits = BatchLimits(), metrics: Metrics | None = None):
        self.registry = registry
        self.catalog: Catalog = registry.catalog()
        self.limits = limits
        self.metrics = metrics or Metrics()
        self._arrivals = {name: Arrivals() for name in registry.models}
        self.batchers = {name: self._batcher(model) for name, model in registry.models.items()}

    def _batcher(self, model: OnnxModel) -> DynamicBatcher:
        name = model.name
        inference_seconds, batch_size = (self.metrics.inference_seconds.labels(name),
                                         self.metrics.batch_size.labels(name))
        on_cpu = model.provider == CPU
        largest = min(self.limits.max_batch_size, model.max_batch_size)
        bulk = min(largest, self.limits.bulk_batch_size or (CPU_BULK_BATCH_SIZE if on_cpu else largest))

        def observe(size: int, seconds: float) -> None:
            batch_size.observe(size)
            inference_seconds.observe(seconds)

        batcher = DynamicBatcher(
            functools.partial(infer_and_rank, model), max_batch_size=largest, max_delay_s=self.limits.max_delay_s,
            max_queue_size=self.limits.max_queue_size, name=name, workers=model.concurrent_batches,
            max_bulk_batch_size=bulk, mix_bulk=not on_cpu, arrivals=self._arrivals[name],
            on_batch=observe, worker_started=model.worker_started)
        self.metrics.queue_depth.labels(name).set_function(lambda: batcher.queue_depth)
        return batcher

    def arrivals(self, model: str) -> Arrivals:
        return self._arrivals[model]

    def makes_inputs(self, model: str) -> bool:
        """A cheap input (a mask on a cached photo) is best made by the model's worker just before
        the run (`Deferred`, no hop through another thread) on the CPU, where the worker's core
        runs it anyway. A GPU's worker must keep the GPU fed: its inputs come made."""
        return self.registry.models[model].provider == CPU

    def start(self) -> None:
        for batcher in self.batchers.values():
            batcher.start()

    def close(self) -> None:
        for batcher in self.batchers.values():
            batcher.close()

    async def stop(self) -> None:
        for batcher in self.batchers.values():
            await batcher.stop()

    async def submit(self, model: str, item, deadline: float | None = None,
                     priority: int = INTERACTIVE) -> tuple[Ranked, object]:
        """The item's ranked classes and its BatchStats, once its batch has run."""
        return await self.batchers[model].submit(item, deadline, priority)

    def put_many(self, model: str, pendings: list[Pending]) -> list:
        """Queues requests for `model`; returns those refused, each with its error."""
        return self.batchers[model].put_many(pendings)

    def discard(self, model: str, pending: Pending) -> bool:
        return self.batchers[model].discard(pending)
