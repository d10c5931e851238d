"""A photo's model inputs with any set of its regions hidden, for searches over regions (`RegionInputs`).

Hiding is linear in the photo before the resize (mask_input.py's docstring): each region's change
to the model input is made once, over the region's own box, and the input for a set of hidden
regions is the masked photo's input plus the changes of its regions: a few small additions per
copy, where a mask of its own would cost a resize of the photo. The fills made from the hole
(inpaint, impute) are not: their copies are filled from the set's mask each time.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from inference_service.errors import InvalidArgument
from inference_service.pipeline.image_cache import CachedImage
from inference_service.pipeline.inpaint import HOLE_FILLS
from inference_service.pipeline.mask_input import difference_in
from inference_service.pipeline.masks import encode_png, read_mask
from inference_service.pipeline.preprocess import source_crop_box
from inference_service.runtimes.metadata import Preprocessing

# The most the regions' bounding boxes may cover together, in multiples of what the model sees
# (the photo's own superpixels cover about 1.5 times it: docs/reliability.md).
MAX_BOX_COVER = 8


def read_labels(data: bytes, width: int, height: int) -> np.ndarray:
    """A caller's regions (SegmentsResponse.labels' format: an 8-bit greyscale PNG of the image's
    size) as an H x W uint8 array; INVALID_ARGUMENT when they are not that."""
    try:
        with Image.open(io.BytesIO(data)) as labels:
            if labels.format != "PNG" or labels.mode != "L":
                raise InvalidArgument(f"regions must be an 8-bit greyscale PNG (as Segments returns); got a "
                                      f"{labels.format} image in mode {labels.mode}")
            if labels.size != (width, height):
                raise InvalidArgument(f"regions are {labels.size[0]} x {labels.size[1]} pixels; the image is "
                                      f"{width} x {height}")
            return np.asarray(labels)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidArgument(f"regions could not be read as a PNG: {exc}") from None


@dataclass(frozen=True)
class Change:
    """One region's change to the model input: `values` added at [:, rows, columns]."""

    rows: slice
    columns: slice
    values: np.ndarray


class RegionInputs:
    """One photo, one model's preprocessing, one fill, one starting mask and a labelling into regions.

    `areas[r]`: region r's share of the model's crop, counting only pixels the mask has not hidden
    already. `searchable`: the regions with any such pixel. `input_for(hidden)`: the model input
    with the mask and the `hidden` regions filled.
    """

    def __init__(self, image: CachedImage, spec: Preprocessing, labels: np.ndarray, mask: bytes, fill: str):
        self.width, self.height = image.width, image.height
        self.fill = fill
        self.labels = labels
        self.count = int(labels.max()) + 1
        self.painted = read_mask(mask, self.width, self.height).to_array() if mask else None
        self.mask = mask
        self.spec = spec
        self.areas = self._areas()
        self.searchable = tuple(int(r) for r in np.flatnonzero(self.areas > 0))
        inputs = image.inputs(spec)
        self._all_hidden: np.ndarray | None = None
        self.base = inputs.input_for(mask, fill, False)
        self._inputs = inputs
        if fill in HOLE_FILLS:
            self.changes: dict[int, Change] = {}
            self.reaching = tuple(range(self.count))  # inpainting reads the whole photo around the crop
        else:
            self.changes = self._changes(image, inputs.resize(), image.fills.get(fill))
            self.reaching = tuple(sorted(self.changes))

    def _areas(self) -> np.ndarray:
        left, top, right, bottom = (int(round(v)) for v in source_crop_box(self.width, self.height, self.spec))
        inside = self.labels[top:bottom, left:right]
        if self.painted is not None:
            inside = inside[~self.painted[top:bottom, left:right]]
        counts = np.bincount(inside.ravel(), minlength=self.count)
        return counts / max(1, (right - left) * (bottom - top))

    def _changes(self, image: CachedImage, resize, fill_pixels: np.ndarray) -> dict[int, Change]:
        """Each region's change to the input (in the model's normalised units), over its box."""
        import scipy.ndimage

        boxes = {}
        for index, rows_cols in enumerate(scipy.ndimage.find_objects(self.labels.astype(np.int32) + 1)):
            if rows_cols is not None:
                rows, cols = rows_cols
                box = resize.trim((cols.start, rows.start, cols.stop, rows.stop))
                if box is not None:
                    boxes[index] = box
        # Each region costs the work (and holds the memory) of its box: regions scattered over the
        # photo (a caller's checkerboard) would each cost the whole photo.
        covered = sum((r - x) * (b - y) for x, y, r, b in boxes.values())
        seen = resize.trim((0, 0, self.width, self.height))
        seen_area = 0 if seen is None else (seen[2] - seen[0]) * (seen[3] - seen[1])
        if covered > MAX_BOX_COVER * max(1, seen_area):
            raise InvalidArgument(f"the regions are too scattered: their bounding boxes cover {covered / seen_area:.0f} "
                                  f"times the part of the photo the model sees; at most {MAX_BOX_COVER} (regions "
                                  "should be compact parts of the photo, as Segments makes them)")
        changes = {}
        std = self.spec.std_255
        for index, box in boxes.items():
            left, top, right, bottom = box
            region = self.labels[top:bottom, left:right] == index
            if self.painted is not None:
                region &= ~self.painted[top:bottom, left:right]
            if not region.any():
                continue
            planes = difference_in(image.rgb, fill_pixels, box)
            planes *= region
            change = resize.apply(planes, box)
            if change is not None:
                out_rows, out_columns, values = change
                changes[index] = Change(out_rows, out_columns, values / std)
        return changes

    def input_for(self, hidden) -> np.ndarray:
        """The model input (3 x crop x crop float32) with the mask and the `hidden` regions filled."""
        if self.fill in HOLE_FILLS:  # the hole as Classify would make it from the same mask
            return self._inputs.input_for(self.hidden_png(hidden), self.fill, False)
        hidden = frozenset(hidden) & self.changes.keys()
        if len(hidden) <= len(self.changes) // 2:
            return self._changed(self.base, hidden, 1.0)
        # Most hidden (a keep search): from everything hidden, take back what is not.
        if self._all_hidden is None:
            self._all_hidden = self._changed(self.base, self.changes.keys(), 1.0)
        return self._changed(self._all_hidden, self.changes.keys() - hidden, -1.0)

    def _changed(self, start: np.ndarray, regions, sign: float) -> np.ndarray:
        out = np.array(start, dtype=np.float32)
        for region in regions:
            change = self.changes[region]
            if sign > 0:
                out[:, change.rows, change.columns] += change.values
            else:
                out[:, change.rows, change.columns] -= change.values
        return out

    def hidden_png(self, hidden) -> bytes:
        """What is hidden (the mask and the `hidden` regions) as a 1-bit PNG of the image's size."""
        out = np.isin(self.labels, np.fromiter(hidden, np.int32))
        if self.painted is not None:
            out |= self.painted
        return encode_png(out)
