"""The service from Python, for notebooks and scripts: photos and masks in, typed results out.

    from maskscope import Client
    with Client("127.0.0.1:50051") as c:
        r = c.classify("photo.jpg", mask=painted, fill="blur")   # painted: H x W bool
        print(r.top, r.probability("espresso"))
"""

from __future__ import annotations

import io
import operator
from collections.abc import Callable, Iterable
from pathlib import Path

import grpc
import numpy as np
from PIL import Image

from maskscope.channel import make_channel, photo_sent_again, token_metadata
from maskscope.fills import BY_NAME as FILLS
from maskscope.painting import PaintingSession
from maskscope.photos import Photo, PhotoError, as_photo, mask_bits, mask_png, photo_id
from maskscope.results import Explanation, ModelInfo, Result, Search
from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc

# Explain classifies hundreds of occluded copies: its deadline is this many times a Classify's.
EXPLAIN_TIMEOUT_FACTOR = 10


class ServiceError(RuntimeError):
    """The service refused or failed a call: `code` is its grpc.StatusCode, `message` what it said."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_rpc(cls, error: grpc.RpcError) -> ServiceError:
        return cls(error.code(), error.details())


class Client:
    """One channel to the service. Photos: a path, bytes, a PIL image or a numpy array; masks: an
    H x W array (non-zero is painted), a PIL image, PNG bytes or a path, of the photo's size (as
    `maskscope.photos` reads them). Once the server has answered for a photo, later calls send
    only its id; should the server have evicted it since, the photo is sent again, once."""

    def __init__(self, address: str = "127.0.0.1:50051", *, timeout_s: float = 30.0,
                 tls_ca_file: Path | str | None = None, tls_server_name: str = "", auth_token: str = ""):
        self.address = address
        self.timeout_s = timeout_s
        self._channel = make_channel(address, tls_ca_file=tls_ca_file, tls_server_name=tls_server_name)
        self._stub = pb_grpc.ClassifierStub(self._channel)
        self._metadata = token_metadata(auth_token)
        # SHA-256 of a photo's bytes -> the id the server gave it. A few bytes per photo: unbounded.
        self._image_ids: dict[bytes, str] = {}
        self._labels: dict[str, tuple[str, ...]] | None = None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def classify(self, photo, mask=None, *, fill: str = "gray", keep_painted: bool = False, model: str = "",
                 top_k: int = 0, track: Iterable[int | str] = (), bulk: bool = False) -> Result:
        """The photo's top_k classes (0: five, or every class of a model with fewer), hidden where
        `mask` is painted (kept only there with keep_painted). `track`: classes whose probabilities
        come back whatever their rank, by index or by label (a label names the first class of that
        name: ImageNet has two cranes; give the index for the second).
        `bulk`: nobody waits on this one answer (a sweep): painters on the same server go first."""
        photo = as_photo(photo)
        request = pb.ClassifyRequest(model=model, mask=_mask(mask, photo), fill=_fill(fill), keep_painted=keep_painted,
                                     top_k=top_k, track=self._class_indices(model, track),
                                     priority=pb.PRIORITY_BULK if bulk else pb.PRIORITY_INTERACTIVE)

        def run(r: pb.ClassifyRequest) -> pb.ClassifyResponse:
            return self._stub.Classify(r, timeout=self.timeout_s, metadata=self._metadata)

        return Result.from_response(self._send(photo, request, run))

    def explain(self, photo, mask=None, *, class_index: int | str | None = None, fill: str = "gray",
                keep_painted: bool = False, model: str = "", patch_size: int = 0, stride: int = 0,
                progress: Callable[[int, int], None] | None = None) -> Explanation:
        """Where the model looks for `class_index` (an index or a label; None: the top class of the
        photo as masked). patch_size and stride are in model-input pixels (0: the server's choice).
        progress(done, total) is called as the occluded copies are classified."""
        photo = as_photo(photo)
        request = pb.ExplainRequest(model=model, mask=_mask(mask, photo), fill=_fill(fill), keep_painted=keep_painted,
                                    patch_size=patch_size, stride=stride)
        if class_index is not None:
            (request.class_index,) = self._class_indices(model, [class_index])

        def run(r: pb.ExplainRequest) -> pb.OcclusionMap:
            last = None
            for last in self._stub.Explain(r, timeout=self.timeout_s * EXPLAIN_TIMEOUT_FACTOR,
                                           metadata=self._metadata):
                if progress is not None:
                    progress(last.done, last.total)
            return last.map

        return Explanation.from_map(self._send(photo, request, run), photo)

    def search(self, photo, mask=None, *, goal: str = "flip", class_index: int | str | None = None,
               fill: str = "gray", model: str = "", regions=None, keep_share: float = 0.0,
               max_classifications: int = 0, progress: Callable[[int, int], None] | None = None) -> Search:
        """What flips it (goal "flip": the least area of regions whose hiding makes the class lose
        top-1) or what keeps it ("keep": the least area that alone keeps it top-1 at keep_share of
        its probability; 0: 0.9). The class: an index or a label (None: the photo's top class as
        masked); `mask` is hidden from the start. `regions`: an H x W array of region numbers
        (0..255) of the photo's size, or None for the photo's own (`regions()`).
        max_classifications: the search's budget (0: the server's default). progress(done, budget)."""
        photo = as_photo(photo)
        request = pb.SearchRequest(model=model, mask=_mask(mask, photo), fill=_fill(fill), keep_share=keep_share,
                                   max_classifications=max_classifications, regions=_regions(regions, photo),
                                   goal={"flip": pb.SEARCH_GOAL_FLIP, "keep": pb.SEARCH_GOAL_KEEP}[_goal(goal)])
        if class_index is not None:
            (request.class_index,) = self._class_indices(model, [class_index])

        def run(r: pb.SearchRequest) -> pb.SearchResult:
            last = None
            for last in self._stub.Search(r, timeout=self.timeout_s * EXPLAIN_TIMEOUT_FACTOR, metadata=self._metadata):
                if progress is not None:
                    progress(last.done, last.budget)
            return last.result

        return Search.from_pb(self._send(photo, request, run), photo)

    def regions(self, photo) -> np.ndarray:
        """The photo's own regions (superpixels): an H x W uint8 array of region numbers."""
        photo = as_photo(photo)

        def run(r: pb.SegmentsRequest) -> pb.SegmentsResponse:
            return self._stub.Segments(r, timeout=self.timeout_s, metadata=self._metadata)

        with Image.open(io.BytesIO(self._send(photo, pb.SegmentsRequest(), run).labels)) as labels:
            return np.asarray(labels)

    def models(self) -> list[ModelInfo]:
        try:
            response = self._stub.ListModels(pb.ListModelsRequest(), timeout=self.timeout_s, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise ServiceError.from_rpc(exc) from None
        return [ModelInfo.from_pb(m) for m in response.models]

    def session(self, photo, *, model: str = "", fill: str = "gray", keep_painted: bool = False,
                top_k: int = 0) -> PaintingSession:
        """Painting in code: `s.hide(mask)`, `s.hide_box(...)`, `s.show(mask)`, `s.undo()`, `s.classify()`."""
        return PaintingSession(self, photo, model=model, fill=fill, keep_painted=keep_painted, top_k=top_k)

    def _send(self, photo: Photo, request, call):
        """call(request) with the photo's id where the server has one, else with its bytes."""
        key = photo_id(photo.data)
        image_id = self._image_ids.get(key)
        try:
            if image_id:
                request.image_id = image_id
                answer = photo_sent_again(call, request, photo.data)
            else:
                request.image = photo.data
                answer = call(request)
        except grpc.RpcError as exc:
            raise ServiceError.from_rpc(exc) from None
        self._image_ids[key] = answer.image_id
        return answer

    def _class_indices(self, model: str, classes: Iterable[int | str]) -> list[int]:
        """Class indices of indices or labels (labels looked up in the model's, listed once: a
        server's models are fixed while it runs)."""
        classes = list(classes)
        if any(isinstance(c, str) for c in classes) and self._labels is None:
            models = self.models()
            self._labels = {m.name: m.labels for m in models}
            self._labels.update({"": m.labels for m in models if m.is_default})
        return [_label_index(self._labels.get(model, ()), c, model) if isinstance(c, str) else operator.index(c)
                for c in classes]


def _label_index(labels: tuple[str, ...], label: str, model: str) -> int:
    try:
        return labels.index(label)
    except ValueError:
        raise KeyError(f"{model or 'the default model'} has no class labelled {label!r}") from None


def _mask(mask, photo: Photo) -> bytes:
    return b"" if mask is None else mask_png(mask_bits(mask, photo.size))


def _regions(regions, photo: Photo) -> bytes:
    """A caller's regions as the Segments PNG; refused here when they cannot be one."""
    if regions is None:
        return b""
    labels = np.asarray(regions)
    if labels.shape != (photo.height, photo.width):
        raise PhotoError(f"regions are {labels.shape[1]}x{labels.shape[0]} but the image is "
                         f"{photo.width}x{photo.height}; they must be the same size")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 255:
        raise PhotoError("regions must be whole numbers from 0 to 255 (each pixel its region's number)")
    out = io.BytesIO()
    Image.fromarray(labels.astype(np.uint8), "L").save(out, "PNG")
    return out.getvalue()


def _goal(goal: str) -> str:
    if goal not in ("flip", "keep"):
        raise ValueError(f"unknown goal {goal!r}; give flip or keep")
    return goal


def _fill(name: str) -> int:
    if name not in FILLS:
        raise ValueError(f"unknown fill {name!r}; give one of {', '.join(FILLS)}")
    return FILLS[name]
