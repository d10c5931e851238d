"""The gRPC face of the ClassificationService: status codes, deadlines and latest-wins streams."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc

from inference_service.errors import RequestError
from inference_service.pipeline.classification import ClassificationService
from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

INTERNAL_MESSAGE = "the server failed to classify this image; see its log"


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


class ClassifierServicer(pb_grpc.ClassifierServicer):
    def __init__(self, service: ClassificationService):
        self._service = service

    def _count(self, request, code: grpc.StatusCode) -> None:
        catalog = self._service.catalog
        model = request.model or catalog.default
        # Only known names become labels: clients must not be able to grow the metrics without end.
        self._service.metrics.requests.labels(model if model in catalog.models else "(unknown)", code.name).inc()

    async def Classify(self, request, context):
        try:
            response = await self._service.classify(request, _deadline(context))
        except RequestError as exc:
            self._count(request, exc.code)
            await context.abort(exc.code, exc.message)
        except asyncio.CancelledError:  # the client went away, or its deadline passed
            self._count(request, grpc.StatusCode.CANCELLED)
            raise
        except Exception:
            log.exception("Classify failed")
            self._count(request, grpc.StatusCode.INTERNAL)
            await context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)
        self._count(request, grpc.StatusCode.OK)
        return response

    async def ClassifyStream(self, request_iterator, context):
        # Latest wins: the reader keeps only the newest unanswered request; older ones are skipped.
        latest: list[pb.ClassifyRequest] = []
        arrived = asyncio.Event()
        reading_done = False

        async def read():
            nonlocal reading_done
            try:
                async for request in request_iterator:
                    latest[:] = [request]
                    arrived.set()
            finally:
                reading_done = True
                arrived.set()

        reader = asyncio.create_task(read())
        try:
            while True:
                if not latest:
                    if reading_done:
                        break
                    arrived.clear()
                    await arrived.wait()
                    continue
                request = latest.pop()
                yield await self._classify_in_stream(request, context)
        finally:
            reader.cancel()

    async def _classify_in_stream(self, request, context) -> pb.ClassifyResponse:
        # A bad request must not end the painting session's stream: it is answered with `error`.
        try:
            response = await self._service.classify(request, _deadline(context))
            self._count(request, grpc.StatusCode.OK)
            return response
        except RequestError as exc:
            code, message = exc.code, exc.message
        except Exception:
            log.exception("ClassifyStream request failed")
            code, message = grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE
        self._count(request, code)
        return pb.ClassifyResponse(sequence=request.sequence, error=pb.Error(code=code.value[0], message=message))

    async def Explain(self, request, context):
        async for response in self._streamed(request, context, self._service.explain(request, _deadline(context)),
                                             "explain this image"):
            yield response

    async def Search(self, request, context):
        async for response in self._streamed(request, context, self._service.search(request, _deadline(context)),
                                             "search this image's regions"):
            yield response

    async def _streamed(self, request, context, responses, what: str):
        """A server-streaming call's responses, with its failures as status codes."""
        try:
            async for response in responses:
                yield response
        except RequestError as exc:
            self._count(request, exc.code)
            await context.abort(exc.code, exc.message)
        except asyncio.CancelledError:
            self._count(request, grpc.StatusCode.CANCELLED)
            raise
        except Exception:
            log.exception("%s failed", type(request).__name__.removesuffix("Request"))
            self._count(request, grpc.StatusCode.INTERNAL)
            await context.abort(grpc.StatusCode.INTERNAL, f"the server failed to {what}; see its log")
        self._count(request, grpc.StatusCode.OK)

    async def Segments(self, request, context):
        try:
            return await self._service.segments(request)
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        except Exception:
            log.exception("Segments failed")
            await context.abort(grpc.StatusCode.INTERNAL, "the server failed to find this image's regions; see its log")

    async def ListModels(self, request, context):
        catalog = self._service.catalog
        return pb.ListModelsResponse(default_model=catalog.default, models=[
            _model_info(model, name == catalog.default) for name, model in sorted(catalog.models.items())])


def _model_info(model, is_default: bool) -> pb.ModelInfo:
    meta = model.metadata
    pre = meta.preprocessing
    return pb.ModelInfo(
        name=meta.name, num_labels=len(meta.labels), input_size=meta.input_size,
        preprocessing=pb.Preprocessing(resize=pre.resize, crop=pre.crop, interpolation=pre.interpolation,
                                       mean=pre.mean, std=pre.std),
        provenance=meta.provenance, pretrained=meta.pretrained, is_default=is_default,
        execution_provider=model.provider, sha256=meta.sha256, labels=meta.labels,
        max_batch_size=meta.max_batch_size, label_set=meta.label_set)
