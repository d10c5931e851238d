"""A bounded LRU cache of decoded photos, keyed by a hash of their bytes."""

from __future__ import annotations

import collections
import io
import threading

import numpy as np
from PIL import Image

from inference_service.pipeline import segments
from inference_service.pipeline.mask_input import MaskInputs, PhotoFills
from inference_service.runtimes.metadata import Preprocessing


class CachedImage:
    """A decoded photo, its fills, and per model preprocessing the `MaskInputs` made of it."""

    def __init__(self, image_id: str, rgb: np.ndarray):
        self.image_id = image_id
        self.rgb = rgb  # H x W x 3 uint8, upright
        self.fills = PhotoFills(rgb, image_id)
        self._inputs: dict[Preprocessing, MaskInputs] = {}
        self._regions: tuple[int, bytes] | None = None
        self._regions_lock = threading.Lock()

    @property
    def width(self) -> int:
        return self.rgb.shape[1]

    @property
    def height(self) -> int:
        return self.rgb.shape[0]

    def inputs(self, spec: Preprocessing) -> MaskInputs:
        """This photo's inputs for a model with this preprocessing."""
        inputs = self._inputs.get(spec)
        if inputs is None:
            inputs = self._inputs.setdefault(spec, MaskInputs(self.rgb, self.fills, spec))
        return inputs

    def regions(self) -> tuple[int, bytes]:
        """(count, labels PNG) of the photo's regions (`segments`), found once."""
        with self._regions_lock:  # two requests for a new photo's regions find them once
            if self._regions is None:
                labels = segments.regions(self.rgb)
                self._regions = int(labels.max()) + 1, segments.labels_png(labels)
            return self._regions

    def region_labels(self) -> np.ndarray:
        """The photo's regions as an H x W uint8 array of region numbers."""
        with Image.open(io.BytesIO(self.regions()[1])) as labels:
            return np.asarray(labels)

    def held_bytes(self) -> int:
        """What it holds besides its pixels, as made so far."""
        return self.fills.held_bytes() + sum(inputs.held_bytes() for inputs in tuple(self._inputs.values()))


def budget_bytes(width: int, height: int, input_sizes: tuple[int, ...]) -> int:
    """The memory a photo of width x height may come to hold, serving models of these input sizes."""
    return (int(width * height * (3 + PhotoFills.BYTES_PER_PIXEL))
            + sum(MaskInputs.budget_bytes(width, height, size) for size in input_sizes))


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
