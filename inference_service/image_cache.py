"""A bounded LRU cache of decoded images, keyed by a hash of their bytes."""

from __future__ import annotations

import collections
import hashlib
import threading
from dataclasses import dataclass, field

import numpy as np

from inference_service import inpaint, occlusion
from inference_service.masks import decode_mask
from inference_service.preprocess import (Preprocessing, ViewResize, difference_in, fill_image, masked_input, model_view,
                                          noise_seed)

# Masks (and their model inputs) kept per image and model, to build the next mask's input on
# (only those made with the same fill and keep_painted are used).
RECENT_MASKS = 4

# An entry may grow after it is cached: by two full-size fills (blur, noise) and a few recent
# masks (bits), and, for each model, by model views, recent masked inputs and each axis's resize
# weights (a side's pixels x the input size, float32). The cache budgets for all of it.
_BYTES_PER_PIXEL_BUDGET = 3 * 3 + RECENT_MASKS / 8
_VIEWS_PER_MODEL = 6 + RECENT_MASKS


def budget_bytes(width: int, height: int, input_sizes: tuple[int, ...]) -> int:
    """The memory an image of width x height may come to hold, serving models of these input sizes."""
    per_model = sum(_VIEWS_PER_MODEL * 3 * size * size * 4 + (width + height) * size * 4 for size in input_sizes)
    return int(width * height * _BYTES_PER_PIXEL_BUDGET) + per_model


def image_id_for(data: bytes) -> str:
    """The image's id: a SHA-256 of its bytes, unguessable without having the image."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class CachedImage:
    image_id: str
    rgb: np.ndarray  # H x W x 3 uint8, upright
    _fills: dict = field(default_factory=dict, repr=False)
    _views: dict = field(default_factory=dict, repr=False)
    _recent: dict = field(default_factory=dict, repr=False)

    @property
    def width(self) -> int:
        return self.rgb.shape[1]

    @property
    def height(self) -> int:
        return self.rgb.shape[0]

    def fill(self, name: str) -> np.ndarray:
        """The fill's pixels for this image, computed once (blur and noise are full-size)."""
        pixels = self._fills.get(name)
        if pixels is None:
            pixels = self._fills[name] = fill_image(self.rgb, name, noise_seed(self.image_id))
        return pixels

    def view(self, spec: Preprocessing, fill: str | None = None) -> np.ndarray:
        """What a model with this preprocessing sees of the image (or of a fill), computed once.

        A painting session sends the same photo again and again: these are why a new mask costs
        little more than decoding the mask.
        """
        key = (spec, fill)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = model_view(self.rgb if fill is None else self.fill(fill), spec)
        return view

    def ready(self, spec: Preprocessing, fill: str, keep_painted: bool) -> bool:
        """Whether the views and fill that `masked_input` needs are already made (the rest is cheap)."""
        return ((spec, None) in self._views and (fill in ("gray", "black") or fill in self._fills)
                and (not keep_painted or (spec, fill) in self._views))

    def masked_input(self, spec: Preprocessing, fill: str, mask: bytes, keep_painted: bool) -> np.ndarray:
        """The model input for this image with `mask`, built on the inputs of recent masks."""
        if fill == "inpaint":
            return inpaint.inpainted_input(self.resized(spec), self.hole(spec, mask, keep_painted), spec)
        # One queue per model, whatever the settings: a painter who tries every fill both ways
        # must not keep eight queues of inputs (the cache budgets RECENT_MASKS per model). Copied
        # with tuple() first, in one step: other threads may add to it meanwhile.
        recent = self._recent.setdefault(spec, collections.deque(maxlen=RECENT_MASKS))
        setting = (fill, keep_painted)
        model_input, painted = masked_input(self.view(spec), lambda: self.view(spec, fill),
                                            lambda box: difference_in(self.rgb, self.fill(fill), box), mask,
                                            keep_painted, spec, self.resize(spec), self.width, self.height,
                                            [(m, x) for s, m, x in tuple(recent) if s == setting])
        if painted is not None:
            recent.appendleft((setting, painted, model_input))
        return model_input

    def resized(self, spec: Preprocessing) -> np.ndarray:
        """The whole image at the model's resize (uint8), where inpainting happens; computed once."""
        key = ("resized", spec.resize, spec.interpolation)
        small = self._views.get(key)
        if small is None:
            small = self._views[key] = inpaint.resized_image(self.rgb, spec)
        return small

    def hole(self, spec: Preprocessing, mask: bytes, keep_painted: bool) -> np.ndarray:
        """What the inpaint fill fills, at the resized size (bool)."""
        small = self.resized(spec)
        if mask:
            hole = inpaint.resized_hole(decode_mask(mask, self.width, self.height), (small.shape[1], small.shape[0]))
        else:
            hole = np.zeros(small.shape[:2], bool)
        return ~hole if keep_painted else hole

    def occluded_inputs(self, spec: Preprocessing, fill: str, mask: bytes, keep_painted: bool,
                        cells: list[tuple[int, int]], patch: int):
        """The masked input, then one copy per cell with a patch x patch square hidden by `fill`."""
        if fill == "inpaint":
            small, hole = self.resized(spec), self.hole(spec, mask, keep_painted)
            yield inpaint.inpainted_input(small, hole, spec)
            for y, x in cells:
                yield occlusion.occlude_inpainted(small, hole, spec, y, x, patch)
            return
        base, fill_view = self.masked_input(spec, fill, mask, keep_painted), self.view(spec, fill)
        yield base
        for y, x in cells:
            yield occlusion.occlude(base, fill_view, y, x, patch)

    def resize(self, spec: Preprocessing) -> ViewResize:
        """The model view's resize as linear maps, to apply to a mask's change; computed once."""
        key = ("resize", spec)
        resize = self._views.get(key)
        if resize is None:
            resize = self._views[key] = ViewResize.of(self.width, self.height, spec)
        return resize


class ImageCache:
    """Thread-safe; evicts the least recently used images beyond `max_bytes`, each image counted
    at its `budget_bytes` for models of `input_sizes`."""

    def __init__(self, max_bytes: int, input_sizes: tuple[int, ...] = (224,)):
        self.max_bytes = max_bytes
        self.input_sizes = tuple(input_sizes)
        self._entries: collections.OrderedDict[str, CachedImage] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, image_id: str) -> CachedImage | None:
        with self._lock:
            entry = self._entries.get(image_id)
            if entry is not None:
                self._entries.move_to_end(image_id)
            return entry

    def put(self, entry: CachedImage) -> CachedImage:
        """Adds `entry` (or returns the one already cached under its id)."""
        with self._lock:
            existing = self._entries.get(entry.image_id)
            if existing is not None:
                self._entries.move_to_end(entry.image_id)
                return existing
            self._entries[entry.image_id] = entry
            self._bytes += self.budget(entry)
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= self.budget(evicted)
            return entry

    def budget(self, entry: CachedImage) -> int:
        return budget_bytes(entry.width, entry.height, self.input_sizes)

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, image_id: str) -> bool:
        return image_id in self._entries
