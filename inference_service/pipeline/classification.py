"""A classification's stages, apart from gRPC: the photo (cached or decoded), its model input
under the mask, the model's batch, the answer."""

from __future__ import annotations

import asyncio
import enum
import functools
import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from inference_service.batching.batcher import BULK, INTERACTIVE, Deferred
from inference_service.batching.model_queues import Queues
from inference_service.batching.postprocess import DEFAULT_TOP_K, top_k
from inference_service.errors import InvalidArgument, NotFound
from inference_service.metrics import Metrics
from inference_service.pipeline import occlusion, region_search
from inference_service.pipeline.image_cache import CachedImage, ImageCache
from inference_service.pipeline.preprocess import decode_image, source_crop_box
from inference_service.pipeline.region_inputs import RegionInputs, read_labels
from inference_service.runtimes.models import ServedModel
from maskscope.fills import NAME_OF as FILL_NAMES
from maskscope.limits import MAX_IMAGE_PIXELS
from maskscope.photos import photo_id
from maskscope.v1 import classifier_pb2 as pb

# Occluded copies built and queued at a time: the batcher's queue stays free for Classify calls,
# and building the next chunk overlaps running this one.
EXPLAIN_CHUNK = 32
PRIORITIES = {pb.PRIORITY_INTERACTIVE: INTERACTIVE, pb.PRIORITY_BULK: BULK}
DEFAULT_KEEP_SHARE = 0.9  # Sufficient Input Subsets' threshold (Carter et al., AISTATS 2019)


@dataclass(frozen=True)
class Limits:
    max_image_pixels: int = MAX_IMAGE_PIXELS
    image_cache_bytes: int = 512 << 20
    preprocess_workers: int = 2
    concurrent_explains: int = 2  # maps and searches per model; more wait their turn, so painters keep most of the queue
    search_classifications: int = 2000  # a search's budget when its request names none
    max_search_classifications: int = 4096

    def __post_init__(self):
        if not 1 <= self.search_classifications <= self.max_search_classifications:
            raise ValueError("the default search budget must be between 1 and the maximum; got "
                             f"{self.search_classifications} and {self.max_search_classifications}")


class Made(enum.Enum):
    """Where a request's model input is made (input_made)."""

    IN_A_PREPROCESSING_THREAD = "in a preprocessing thread"
    NOW = "now, on the event loop"
    IN_THE_WORKER = "in the model's worker, just before the run"


def input_made(cheap: bool, worker_makes_inputs: bool) -> Made:
    """Where a request's model input is made. Decoding a photo, its first view, a first fill or
    inpainting take milliseconds: a preprocessing thread. When the photo is cached and only the
    mask is new (`cheap`: `MaskInputs.cheap`), the input is a little arithmetic: the model's worker
    makes it just before the run where it would run on that core anyway (the CPU:
    `Queues.makes_inputs`), else it is made at once, here (a GPU's worker must keep the GPU fed)."""
    if not cheap:
        return Made.IN_A_PREPROCESSING_THREAD
    return Made.IN_THE_WORKER if worker_makes_inputs else Made.NOW


class ClassificationService:
    """Everything a Classify or Explain call needs, apart from gRPC: the image cache, the
    preprocessing threads, and `queues`, the models' batchers (batching.model_queues.Queues: in this
    process, ModelQueues; in a front-end process, RemoteModelQueues)."""

    def __init__(self, queues: Queues, limits: Limits = Limits(), metrics: Metrics | None = None):
        self.queues = queues
        self.catalog = queues.catalog
        self.limits = limits
        self.metrics = metrics or Metrics()
        self.cache = ImageCache(limits.image_cache_bytes,
                                tuple(model.metadata.input_size for model in self.catalog.models.values()))
        self._preprocess_pool = ThreadPoolExecutor(limits.preprocess_workers, thread_name_prefix="preprocess")
        self._explain_slots = {name: asyncio.Semaphore(limits.concurrent_explains) for name in self.catalog.models}
        self.metrics.cached_images.set_function(lambda: len(self.cache))
        self.metrics.cached_bytes.set_function(lambda: self.cache.bytes)

    def start(self) -> None:
        self.queues.start()

    async def stop(self) -> None:
        await self.queues.stop()
        self._preprocess_pool.shutdown(wait=True)

    async def classify(self, request: pb.ClassifyRequest, deadline: float | None = None) -> pb.ClassifyResponse:
        arrived = time.monotonic()
        model = self.catalog.get(request.model)
        labels = model.metadata.labels
        k = _validate_top_k(request.top_k, len(labels))
        bad_track = [i for i in request.track if not 0 <= i < len(labels)]
        if bad_track:
            raise InvalidArgument(f"track holds class indices outside 0..{len(labels) - 1}: {bad_track}")
        _check_fill(request.fill)
        if request.priority not in PRIORITIES:
            raise InvalidArgument(f"unknown priority {request.priority}; use one of {sorted(PRIORITIES)}")
        item, image = await self._model_input(request, model)
        submitted = time.monotonic()
        ranked, stats = await self.queues.submit(model.name, item, deadline, PRIORITIES[request.priority])
        preprocess_s = submitted - arrived + stats.prepare_s
        self.metrics.preprocess_seconds.labels(model.name).observe(preprocess_s)
        self.metrics.queue_seconds.labels(model.name).observe(stats.queue_s)
        probabilities = ranked.probabilities
        return pb.ClassifyResponse(
            predictions=[pb.Prediction(class_index=i, label=labels[i], probability=p) for i, p in ranked.top(k)],
            tracked=[pb.Prediction(class_index=i, label=labels[i], probability=float(probabilities[i]))
                     for i in request.track],
            model=model.name, image_id=image.image_id, sequence=request.sequence,
            image_width=image.width, image_height=image.height,
            timings=pb.Timings(preprocess_ms=preprocess_s * 1e3, queue_ms=stats.queue_s * 1e3,
                               inference_ms=stats.inference_s * 1e3,
                               total_ms=(time.monotonic() - arrived) * 1e3, batch_size=stats.size))

    async def _model_input(self, request: pb.ClassifyRequest, model: ServedModel) -> tuple[object, CachedImage]:
        """The request's model input (`prepare`), or a `Deferred` one, and its photo, made where
        `input_made` says."""
        spec = model.metadata.preprocessing
        image = self._image(request) if request.WhichOneof("source") == "image_id" else None
        cheap = image is not None and image.inputs(spec).cheap(request.mask, FILL_NAMES[request.fill],
                                                                request.keep_painted)
        where = input_made(cheap, self.queues.makes_inputs(model.name))
        if where == Made.IN_THE_WORKER:
            return Deferred(functools.partial(prepare, image, request, spec)), image
        if where == Made.NOW:
            return prepare(image, request, spec), image
        with self.queues.arrivals(model.name).expect():
            return await asyncio.get_running_loop().run_in_executor(
                self._preprocess_pool, self._decode_and_prepare, request, spec, image)

    def _decode_and_prepare(self, request: pb.ClassifyRequest, spec, image: CachedImage | None):
        """In a preprocessing thread: the photo (decoded unless given) and its model input."""
        image = image or self._image(request)
        return prepare(image, request, spec), image

    async def explain(self, request: pb.ExplainRequest, deadline: float | None = None):
        """Yields ExplainResponses: progress after each chunk of occluded copies, then the map.

        At most `concurrent_explains` run per model, each with EXPLAIN_CHUNK copies queued at a
        time, as bulk requests: painters' requests run first.
        """
        model = self.catalog.get(request.model)
        async with self._explain_slots[model.name]:
            async for response in self._explain(request, model, deadline):
                yield response

    async def _explain(self, request: pb.ExplainRequest, model: ServedModel, deadline: float | None):
        labels = model.metadata.labels
        if request.HasField("class_index") and not 0 <= request.class_index < len(labels):
            raise InvalidArgument(f"class_index must be between 0 and {len(labels) - 1}; got {request.class_index}")
        _check_fill(request.fill)
        spec, size = model.metadata.preprocessing, model.metadata.input_size
        patch, stride = occlusion.check_parameters(size, request.patch_size, request.stride)
        cells = occlusion.grid(size, patch, stride)
        loop = asyncio.get_running_loop()
        image = await loop.run_in_executor(self._preprocess_pool, self._image, request)
        inputs = image.inputs(spec).occluded_inputs(request.mask, FILL_NAMES[request.fill], request.keep_painted,
                                                    cells, patch)

        def take(n: int) -> list[np.ndarray]:
            return list(itertools.islice(inputs, n))

        def submit(x):
            return self.queues.submit(model.name, x, deadline, BULK)

        (base_input,) = await loop.run_in_executor(self._preprocess_pool, take, 1)
        base = (await submit(base_input))[0].probabilities
        class_index = request.class_index if request.HasField("class_index") else int(np.argmax(base))
        drops: list[float] = []
        chunk = loop.run_in_executor(self._preprocess_pool, take, EXPLAIN_CHUNK)
        while len(drops) < len(cells):
            copies = await chunk
            if len(drops) + len(copies) < len(cells):
                chunk = loop.run_in_executor(self._preprocess_pool, take, EXPLAIN_CHUNK)
            results = await _all_or_none([submit(x) for x in copies])
            drops += [float(base[class_index] - ranked.probabilities[class_index]) for ranked, _ in results]
            yield pb.ExplainResponse(done=len(drops), total=len(cells))
        values = occlusion.cell_map(drops, cells, size, patch, stride)
        left, top, right, bottom = source_crop_box(image.width, image.height, spec)
        yield pb.ExplainResponse(done=len(cells), total=len(cells), map=pb.OcclusionMap(
            rows=values.shape[0], cols=values.shape[1], drop=values.ravel().tolist(), class_index=class_index,
            label=labels[class_index], base_probability=float(base[class_index]), crop_left=left, crop_top=top,
            crop_right=right, crop_bottom=bottom, patch_size=patch, stride=stride, occluded_copies=len(cells),
            model=model.name, image_id=image.image_id, image_width=image.width, image_height=image.height))

    async def segments(self, request: pb.SegmentsRequest) -> pb.SegmentsResponse:
        """The photo's regions, found in a preprocessing thread the first time and cached with it."""
        def find() -> tuple[CachedImage, tuple[int, bytes]]:
            image = self._image(request)
            return image, image.regions()

        image, (count, labels) = await asyncio.get_running_loop().run_in_executor(self._preprocess_pool, find)
        return pb.SegmentsResponse(image_id=image.image_id, image_width=image.width, image_height=image.height,
                                   count=count, labels=labels)

    async def search(self, request: pb.SearchRequest, deadline: float | None = None):
        """Yields SearchResponses: progress after each chunk of copies, then the result.

        Shares the per-model slots of `explain` (at most `concurrent_explains` bulk jobs at once);
        every copy is a bulk request, so painters' requests run first.
        """
        model = self.catalog.get(request.model)
        goal, budget, share = self._search_terms(request, len(model.metadata.labels))
        async with self._explain_slots[model.name]:
            async for response in self._search(request, model, goal, budget, share, deadline):
                yield response

    def _search_terms(self, request: pb.SearchRequest, num_labels: int) -> tuple[region_search.Goal, int, float]:
        """The request's goal, budget and keep share, checked."""
        if request.HasField("class_index") and not 0 <= request.class_index < num_labels:
            raise InvalidArgument(f"class_index must be between 0 and {num_labels - 1}; got {request.class_index}")
        _check_fill(request.fill)
        goals = {pb.SEARCH_GOAL_UNSPECIFIED: region_search.Goal.FLIP, pb.SEARCH_GOAL_FLIP: region_search.Goal.FLIP,
                 pb.SEARCH_GOAL_KEEP: region_search.Goal.KEEP}
        if request.goal not in goals:
            raise InvalidArgument(f"unknown goal {request.goal}; use one of {sorted(goals)}")
        most = self.limits.max_search_classifications
        if not 0 <= request.max_classifications <= most:
            raise InvalidArgument(f"max_classifications must be between 1 and {most} (0: the server's default, "
                                  f"{self.limits.search_classifications}); got {request.max_classifications}")
        if not 0 <= request.keep_share <= 1:  # NaN fails too
            raise InvalidArgument(f"keep_share must be between 0 and 1 (0: {DEFAULT_KEEP_SHARE}); "
                                  f"got {request.keep_share}")
        return (goals[request.goal], request.max_classifications or self.limits.search_classifications,
                request.keep_share or DEFAULT_KEEP_SHARE)

    async def _search(self, request: pb.SearchRequest, model: ServedModel, goal: region_search.Goal, budget: int,
                      share: float, deadline: float | None):
        labels, spec = model.metadata.labels, model.metadata.preprocessing
        loop = asyncio.get_running_loop()

        def regions() -> tuple[CachedImage, RegionInputs]:
            image = self._image(request)
            label_image = (read_labels(request.regions, image.width, image.height) if request.regions
                           else image.region_labels())
            return image, RegionInputs(image, spec, label_image, request.mask, FILL_NAMES[request.fill])

        image, inputs = await loop.run_in_executor(self._preprocess_pool, regions)

        def submit(x):
            return self.queues.submit(model.name, x, deadline, BULK)

        async def classify(hidden_sets: list[frozenset]) -> list[np.ndarray]:
            copies = await loop.run_in_executor(self._preprocess_pool,
                                                lambda: [inputs.input_for(h) for h in hidden_sets])
            return [ranked.probabilities for ranked, _ in await _all_or_none([submit(x) for x in copies])]

        base = (await submit(inputs.base))[0].probabilities
        class_index = request.class_index if request.HasField("class_index") else int(np.argmax(base))
        target = region_search.Target(goal, class_index, share * float(base[class_index]))
        progress: asyncio.Queue = asyncio.Queue()
        search = region_search.RegionSearch(target, inputs.areas, inputs.searchable, inputs.reaching, base, classify,
                                            budget, lambda done, best: progress.put_nowait((done, best)))
        task = asyncio.ensure_future(search.run())
        task.add_done_callback(lambda _: progress.put_nowait(None))
        try:
            while (step := await progress.get()) is not None:
                yield pb.SearchResponse(done=step[0], budget=budget, best_area=step[1] or 0.0)
            found = await task
        finally:
            task.cancel()
        hidden = b""
        if found.regions is not None:  # keep: everything but what it keeps, outside the crop too
            kept_or_hidden = frozenset(found.regions)
            if goal is region_search.Goal.KEEP:
                kept_or_hidden = frozenset(range(inputs.count)) - kept_or_hidden
            hidden = await loop.run_in_executor(self._preprocess_pool, inputs.hidden_png, kept_or_hidden)
        after = found.probabilities
        yield pb.SearchResponse(done=found.classifications, budget=budget, best_area=found.area, result=pb.SearchResult(
            goal=request.goal or pb.SEARCH_GOAL_FLIP, found=found.regions is not None, regions=found.regions or (),
            area=found.area, minimal=found.minimal, class_index=class_index, label=labels[class_index],
            base_probability=float(base[class_index]),
            predictions=[] if after is None else [pb.Prediction(class_index=i, label=labels[i], probability=p)
                                                  for i, p in top_k(after, DEFAULT_TOP_K)],
            probability=0.0 if after is None else float(after[class_index]), hidden=hidden,
            classifications=found.classifications, region_count=len(inputs.searchable), model=model.name,
            image_id=image.image_id, image_width=image.width, image_height=image.height))

    def _image(self, request) -> CachedImage:
        """The request's image (its `source`: an image or an image_id), from the cache if there."""
        source = request.WhichOneof("source")
        if source == "image_id":
            image = self.cache.get(request.image_id)
            if image is None:
                raise NotFound(f"image_id {request.image_id!r} is not (or no longer) cached on this server; "
                               "send the image itself again")
            return image
        if source != "image" or not request.image:
            raise InvalidArgument("the request has no image: send `image` (the bytes) or `image_id`")
        image_id = photo_id(request.image)
        image = self.cache.get(image_id)
        if image is None:
            image = self.cache.put(CachedImage(image_id, decode_image(request.image, self.limits.max_image_pixels)))
        return image


def prepare(image: CachedImage, request: pb.ClassifyRequest, spec) -> np.ndarray:
    """A ClassifyRequest's model input: its photo under its mask and fill, for this preprocessing."""
    return image.inputs(spec).input_for(request.mask, FILL_NAMES[request.fill], request.keep_painted)


async def _all_or_none(awaitables: list) -> list:
    """gather, but when one fails (or the caller is cancelled) the others are cancelled too:
    their requests are taken off the batcher's queue."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


def _check_fill(fill: int) -> None:
    if fill not in FILL_NAMES:
        raise InvalidArgument(f"unknown fill {fill}; use one of {sorted(FILL_NAMES)}")


def _validate_top_k(top_k_requested: int, num_labels: int) -> int:
    if top_k_requested == 0:
        return min(DEFAULT_TOP_K, num_labels)
    if not 1 <= top_k_requested <= num_labels:
        raise InvalidArgument(f"top_k must be between 1 and {num_labels} (0 means {DEFAULT_TOP_K}); "
                              f"got {top_k_requested}")
    return top_k_requested
