"""What the service answers, as typed values: printed as the command line's tables, drawn as HTML in Jupyter."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from maskscope.photos import Photo, png, upright_rgb
from maskscope.v1 import classifier_pb2 as pb

HEAT_RED = (230, 30, 30)   # the map's colour where hiding a region costs the class the most
HEAT_OPACITY = 0.7         # at the largest drop: the photo still shows through
HIDDEN_TINT = (40, 40, 60)  # a search's hidden area, drawn over the photo
HIDDEN_OPACITY = 0.75


@dataclass(frozen=True)
class Prediction:
    class_index: int
    label: str
    probability: float

    @classmethod
    def from_pb(cls, p: pb.Prediction) -> Prediction:
        return cls(p.class_index, p.label, p.probability)


@dataclass(frozen=True)
class Timings:
    """Where the server spent its time on the request, in milliseconds."""

    preprocess_ms: float
    queue_ms: float
    inference_ms: float
    total_ms: float
    batch_size: int  # how many requests shared the model run

    @classmethod
    def from_pb(cls, t: pb.Timings) -> Timings:
        return cls(t.preprocess_ms, t.queue_ms, t.inference_ms, t.total_ms, t.batch_size)


@dataclass(frozen=True)
class Result:
    """One classification: `predictions` highest first, `tracked` in the order asked for."""

    predictions: tuple[Prediction, ...]
    tracked: tuple[Prediction, ...]
    model: str
    image_id: str
    image_size: tuple[int, int]  # width, height, upright
    timings: Timings

    @classmethod
    def from_response(cls, r: pb.ClassifyResponse) -> Result:
        return cls(tuple(map(Prediction.from_pb, r.predictions)), tuple(map(Prediction.from_pb, r.tracked)), r.model,
                   r.image_id, (r.image_width, r.image_height), Timings.from_pb(r.timings))

    @property
    def top(self) -> Prediction:
        return self.predictions[0]

    def probability(self, label_or_index: str | int) -> float:
        """The probability of a class (its label or its index) among the predictions or the tracked."""
        key = "label" if isinstance(label_or_index, str) else "class_index"
        for p in self.predictions + self.tracked:
            if getattr(p, key) == label_or_index:
                return p.probability
        raise KeyError(f"{label_or_index!r} is not among the top {len(self.predictions)} classes or the tracked "
                       "ones; pass it in track= to follow it whatever its rank")

    def rows(self) -> list[tuple[str, Prediction]]:
        """(rank, prediction): ranks 1, 2, ..., then "pin" for each tracked class."""
        return [(str(rank), p) for rank, p in enumerate(self.predictions, 1)] + [("pin", p) for p in self.tracked]

    def summary(self) -> str:
        t = self.timings
        return (f"model {self.model}; image {self.image_size[0]}x{self.image_size[1]} id {self.image_id[:12]}; "
                f"server {t.total_ms:.1f} ms (preprocess {t.preprocess_ms:.1f}, queue {t.queue_ms:.1f}, "
                f"inference {t.inference_ms:.1f} in a batch of {t.batch_size})")

    def __str__(self) -> str:
        width = max([len(p.label) for _, p in self.rows()] + [5])
        lines = [f"{'rank':>4}  {'class':<{width}}  {'index':>5}  {'probability':>11}"]
        lines += [f"{rank:>4}  {p.label:<{width}}  {p.class_index:>5}  {p.probability * 100:>10.2f}%"
                  for rank, p in self.rows()]
        return "\n".join(lines + [self.summary()])

    def __repr__(self) -> str:
        shown = ", ".join(f"{p.label} {p.probability:.1%}" for p in self.predictions[:3])
        return f"<Result {shown}{', ...' if len(self.predictions) > 3 else ''} by {self.model}>"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{rank}</td><td>{html.escape(p.label)}</td><td>{p.class_index}</td>"
                       f"<td style='text-align:right'>{p.probability:.2%}</td></tr>" for rank, p in self.rows())
        return (f"<table><thead><tr><th>rank</th><th>class</th><th>index</th><th>probability</th></tr></thead>"
                f"<tbody>{rows}</tbody><caption style='caption-side:bottom'>{html.escape(self.summary())}</caption>"
                "</table>")


@dataclass(frozen=True, eq=False)
class Explanation:
    """Where the model looks: `drop[row, col]` is how much the class's probability falls with that
    cell hidden (positive: it hurts the class); the cells split `crop`, the part of the photo the
    model sees, in the photo's pixels (left, top, right, bottom)."""

    drop: np.ndarray  # rows x cols, float32
    crop: tuple[float, float, float, float]
    class_index: int
    label: str
    base_probability: float  # the class's probability before any patch
    model: str
    image_id: str
    image_size: tuple[int, int]
    patch_size: int
    stride: int
    occluded_copies: int
    photo: Photo = field(repr=False)

    @classmethod
    def from_map(cls, m: pb.OcclusionMap, photo: Photo) -> Explanation:
        return cls(np.array(m.drop, np.float32).reshape(m.rows, m.cols),
                   (m.crop_left, m.crop_top, m.crop_right, m.crop_bottom), m.class_index, m.label, m.base_probability,
                   m.model, m.image_id, (m.image_width, m.image_height), m.patch_size, m.stride, m.occluded_copies,
                   photo)

    def to_image(self) -> Image.Image:
        """The map over the photo's crop (see `heat_overlay`)."""
        return heat_overlay(upright_rgb(self.photo), self.drop, self.crop)

    def __str__(self) -> str:
        rows, cols = self.drop.shape
        r, c = np.unravel_index(np.argmax(self.drop), self.drop.shape)
        return (f"{self.model}: {self.label} ({self.class_index}) at {self.base_probability * 100:.1f}%; {rows}x{cols} "
                f"map from {self.occluded_copies} copies (patch {self.patch_size}, stride {self.stride}); largest drop "
                f"{self.drop.max() * 100:.1f} points at row {r}, column {c}")

    def _repr_html_(self) -> str:
        data = base64.b64encode(png(self.to_image())).decode()
        return (f"<figure><img src='data:image/png;base64,{data}' alt='occlusion map of {html.escape(self.label)}'>"
                f"<figcaption>{html.escape(str(self))}</figcaption></figure>")


@dataclass(frozen=True, eq=False)
class Search:
    """What flips it (`goal` "flip": the least area of regions whose hiding makes the class lose
    top-1) or what keeps it ("keep": the least area that alone keeps it). `hidden` is what is
    hidden with the answer applied (H x W bool): classify the photo with it as the mask to see it."""

    goal: str
    found: bool
    regions: tuple[int, ...]
    area: float               # the regions' share of the model's crop
    minimal: bool             # every set of smaller area was tried
    class_index: int
    label: str
    base_probability: float   # the class's, before
    probability: float        # the class's, with the answer applied
    predictions: tuple[Prediction, ...]  # the top 5 with the answer applied
    hidden: np.ndarray = field(repr=False)
    classifications: int
    region_count: int
    model: str
    image_id: str
    photo: Photo = field(repr=False)

    @classmethod
    def from_pb(cls, r: pb.SearchResult, photo: Photo) -> Search:
        if r.hidden:
            with Image.open(io.BytesIO(r.hidden)) as mask:
                hidden = np.asarray(mask.convert("L")) > 0
        else:
            hidden = np.zeros((r.image_height, r.image_width), bool)
        return cls("keep" if r.goal == pb.SEARCH_GOAL_KEEP else "flip", r.found, tuple(r.regions), r.area, r.minimal,
                   r.class_index, r.label, r.base_probability, r.probability,
                   tuple(map(Prediction.from_pb, r.predictions)), hidden, r.classifications, r.region_count, r.model,
                   r.image_id, photo)

    @property
    def top(self) -> Prediction | None:
        return self.predictions[0] if self.predictions else None

    def __str__(self) -> str:
        known = "the least possible with these regions" if self.minimal else "the least the search found"
        if not self.found:
            return (f"{self.model}: nothing tried within {self.classifications} classifications "
                    f"{'changed' if self.goal == 'flip' else 'kept'} {self.label} ({self.base_probability:.1%})")
        if self.goal == "flip":
            return (f"{self.model}: hiding {self.area:.1%} of what it sees ({len(self.regions)} of "
                    f"{self.region_count} regions; {known}) turns {self.label} ({self.base_probability:.1%}) into "
                    f"{self.top.label} ({self.top.probability:.1%}); {self.classifications} classifications")
        return (f"{self.model}: keeping only {self.area:.1%} of what it sees ({len(self.regions)} of "
                f"{self.region_count} regions; {known}), it still says {self.label} at {self.probability:.1%} "
                f"(of {self.base_probability:.1%}); {self.classifications} classifications")

    def to_image(self) -> Image.Image:
        """The photo with the hidden part tinted (see `tinted`)."""
        return tinted(upright_rgb(self.photo), self.hidden)

    def _repr_html_(self) -> str:
        data = base64.b64encode(png(self.to_image())).decode()
        return (f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(self.goal)} search result'>"
                f"<figcaption>{html.escape(str(self))}</figcaption></figure>")


def tinted(photo: Image.Image, hidden: np.ndarray) -> Image.Image:
    """The photo with `hidden` (H x W bool) darkened and tinted, the rest as it is."""
    veil = Image.new("RGB", photo.size, HIDDEN_TINT)
    alpha = Image.fromarray((hidden * int(255 * HIDDEN_OPACITY)).astype(np.uint8))
    return Image.composite(veil, photo, alpha)


def heat_overlay(photo: Image.Image, drop: np.ndarray, crop: tuple[float, float, float, float]) -> Image.Image:
    """The map over the photo's crop: red where hiding a region costs the class the most, scaled
    to the largest drop; regions whose hiding helps the class are left as they are."""
    cropped = photo.crop(tuple(round(v) for v in crop))
    values = np.clip(drop / max(float(drop.max()), 1e-6), 0, 1)
    heat = Image.fromarray((values * 255).astype(np.uint8)).resize(cropped.size, Image.Resampling.BILINEAR)
    red = Image.new("RGB", cropped.size, HEAT_RED)
    return Image.composite(red, cropped, heat.point(lambda v: int(v * HEAT_OPACITY)))


@dataclass(frozen=True)
class ModelInfo:
    """A model the server has loaded."""

    name: str
    labels: tuple[str, ...] = field(repr=False)  # class names, by class index
    input_size: int       # the model sees input_size x input_size pixels
    pretrained: bool      # False: random weights, for tests and benchmarks only
    is_default: bool
    max_batch_size: int   # 0: any batch; 1: one image per model run
    label_set: str        # "imagenet-1k" for ImageNet's labels; empty for others
    execution_provider: str
    provenance: str

    @classmethod
    def from_pb(cls, m: pb.ModelInfo) -> ModelInfo:
        return cls(m.name, tuple(m.labels), m.input_size, m.pretrained, m.is_default, m.max_batch_size, m.label_set,
                   m.execution_provider, m.provenance)
