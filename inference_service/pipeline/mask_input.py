"""A photo's model inputs under any mask, for one model's preprocessing (`MaskInputs`).

A painting session sends the same photo again and again, each time with a new mask. Resizing is
linear, so resize(image + painted * (fill - image)) = view(image) + resize(painted * (fill - image)),
and with keep_painted, view(fill) + resize(painted * (image - fill)): a new mask costs only its
change against the most similar recent mask, resized over the changed box with PIL's own filter
coefficients (`linear_resize`). The result equals the reference transforms (mask at full size,
then resize and crop) to float rounding.

What that needs (the model's view of the photo and of each fill, the resize as linear maps) is
made lazily: a photo's first input is made the plain way, the mask applied at full size and the
result resized once, so a photo seen once costs no more than in a plain server; the views are
built from its second request on.
"""

from __future__ import annotations

import collections
import threading

import numpy as np

from inference_service.pipeline import inpaint, occlusion
from inference_service.pipeline.linear_resize import ViewResize
from inference_service.pipeline.masks import Box, Mask, decode_mask, read_mask
from inference_service.pipeline.preprocess import (apply_mask, fill_image, model_view, noise_seed, view_of_part,
                                                   view_reach)
from inference_service.runtimes.metadata import Preprocessing
from maskscope.fills import COLOURS

# Masks (and their model inputs) kept per photo and model, to build the next mask's input on.
RECENT_MASKS = 4
# A change within 1/SMALL_CHANGE of the photo is built on the earlier mask without a second look.
SMALL_CHANGE = 16
# Beyond these, making a mask's input may take long enough to hold up a whole batch.
CHEAP_MAX_PIXELS = 4_000_000
CHEAP_MAX_MASK_BYTES = 256 << 10
# Views one MaskInputs may come to hold: the photo's, one per fill, recent inputs, the resized photo.
_VIEWS = 6 + RECENT_MASKS


class PhotoFills:
    """A photo's fills at full size, each computed once (blur and noise are as large as the photo)."""

    # Two full-size fills (blur, noise) and the recent masks' bits, per pixel.
    BYTES_PER_PIXEL = 2 * 3 + RECENT_MASKS / 8

    def __init__(self, rgb: np.ndarray, image_id: str):
        self.rgb = rgb
        self.seed = noise_seed(image_id)
        self._made: dict[str, np.ndarray] = {}

    def get(self, name: str) -> np.ndarray:
        pixels = self._made.get(name)
        if pixels is None:
            pixels = fill_image(self.rgb, name, self.seed)
            if name not in COLOURS:
                self._made[name] = pixels
        return pixels

    def made(self, name: str) -> bool:
        return name in COLOURS or name in self._made

    def held_bytes(self) -> int:
        return sum(a.nbytes for a in self._made.values())


class MaskInputs:
    """One photo under one model's preprocessing: `input_for(mask, fill, keep_painted)`.

    Safe to use from several threads at once: at worst two threads make the same view twice.
    """

    def __init__(self, rgb: np.ndarray, fills: PhotoFills, spec: Preprocessing):
        self.rgb = rgb
        self.height, self.width = rgb.shape[:2]
        self.fills = fills
        self.spec = spec
        self._views: dict[str | None, np.ndarray] = {}  # None: the photo; a fill's name: that fill
        self._resize: ViewResize | None = None
        self._resized: np.ndarray | None = None  # the whole photo at the model's resize (inpainting)
        # One queue whatever the settings: a painter who tries every fill both ways must not keep
        # eight (the cache budgets RECENT_MASKS per model). Entries: ((fill, keep_painted), Mask, input).
        self._recent: collections.deque = collections.deque(maxlen=RECENT_MASKS)
        self._seen = False
        self._lock = threading.Lock()

    @staticmethod
    def budget_bytes(width: int, height: int, input_size: int) -> int:
        """The most one MaskInputs holds for a width x height photo and a model of this input size:
        its views and each axis's resize weights (a side's pixels x the input size, float32)."""
        return _VIEWS * 3 * input_size * input_size * 4 + (width + height) * input_size * 4

    def held_bytes(self) -> int:
        arrays = list(self._views.values()) + [x for _, mask, x in tuple(self._recent)]
        arrays += [mask.bits for _, mask, _ in tuple(self._recent)]
        if self._resized is not None:
            arrays.append(self._resized)
        held = sum(a.nbytes for a in arrays)
        return held + (self._resize.held_bytes() if self._resize is not None else 0)

    def cheap(self, mask: bytes, fill: str, keep_painted: bool) -> bool:
        """Whether this input is cheap to make, so that the model's worker may make it just before
        the run: only the mask is new work (the views and the fill it needs are made)."""
        return (fill not in inpaint.HOLE_FILLS and self.width * self.height <= CHEAP_MAX_PIXELS
                and len(mask) <= CHEAP_MAX_MASK_BYTES and None in self._views and self.fills.made(fill)
                and (not keep_painted or fill in self._views))

    def input_for(self, mask: bytes, fill: str, keep_painted: bool) -> np.ndarray:
        """The model input (3 x crop x crop float32) of the photo with `mask` hidden by `fill`
        (or, with keep_painted, everything else hidden). Do not modify it: it may be shared."""
        if fill in inpaint.HOLE_FILLS:
            return inpaint.hole_filled_input(fill, self.resized_photo(), self.hole(mask, keep_painted), self.spec,
                                             self.fills.seed)
        with self._lock:
            first, self._seen = not self._seen, True
        if not mask:
            return self.view(fill if keep_painted else None)
        painted = read_mask(mask, self.width, self.height)
        setting = (fill, keep_painted)
        if first:  # the plain way, on what the model sees of the photo: nothing made for later masks yet
            reach = left, top, right, bottom = view_reach(self.width, self.height, self.spec)
            pixels = self.fills.get(fill)
            part = apply_mask(self.rgb[top:bottom, left:right], painted.to_array(reach),
                              pixels if pixels.ndim == 1 else pixels[top:bottom, left:right], keep_painted)
            model_input = view_of_part(part, self.spec, self.width, self.height)
        else:
            self.view(fill if keep_painted else None)  # from the second request on: later masks are cheap
            recent = [(m, x) for s, m, x in tuple(self._recent) if s == setting]  # tuple(): others append
            model_input = self._built(painted, fill, keep_painted, recent)
        self._recent.appendleft((setting, painted, model_input))
        return model_input

    def view(self, fill: str | None = None) -> np.ndarray:
        """What the model sees of the photo (or of a fill), computed once."""
        view = self._views.get(fill)
        if view is None:
            view = model_view(self.rgb if fill is None else self.fills.get(fill), self.spec)
            if view.ndim == 3 and view.shape[1] == 1:  # one colour: the whole input, made once
                view = np.array(np.broadcast_to(view, (3, self.spec.crop, self.spec.crop)))
            self._views[fill] = view
        return view

    def resize(self) -> ViewResize:
        """The model view's resize as linear maps, to apply to a mask's change; computed once."""
        if self._resize is None:
            self._resize = ViewResize.of(self.width, self.height, self.spec)
        return self._resize

    def _built(self, painted: Mask, fill: str, keep_painted: bool, recent: list[tuple[Mask, np.ndarray]]):
        """The input built on the recent mask that differs in the fewest bytes (a box per candidate
        cost more than the counts), unless the photo alone needs fewer, or the recent one's changed
        box is larger than the painted one's (two strokes far apart differ in few bytes but span
        the photo). Every candidate is counted: painters who share a photo share its recent masks,
        and the first that differed by a stroke's worth was often another painter's."""
        start, before, fewest = None, None, painted.differing_bytes()
        for earlier, earlier_input in recent:
            differing = painted.differing_bytes(earlier)
            if differing == 0:
                return earlier_input  # the very same mask
            if differing < fewest:
                start, before, fewest = earlier_input, earlier, differing
        if before is None:
            box = painted.box()
        else:
            box = painted.changed_box(before)
            if _area(box) > self.width * self.height // SMALL_CHANGE:  # the painted box may be smaller: look
                own = painted.box()
                if _area(own) < _area(box):
                    box, start, before = own, None, None
        out = np.array(self.view(fill if keep_painted else None) if start is None else start, dtype=np.float32)
        resize = self.resize()
        box = None if box is None else resize.trim(box)
        if box is None:
            return out
        weights = painted.weights(box) if before is None else painted.weights(box) - before.weights(box)
        planes = difference_in(self.rgb, self.fills.get(fill), box)
        planes *= weights
        change = resize.apply(planes, box)
        if change is not None:
            rows, columns, values = change
            values /= self.spec.std_255
            if keep_painted:
                out[:, rows, columns] -= values
            else:
                out[:, rows, columns] += values
        return out

    def occluded_inputs(self, mask: bytes, fill: str, keep_painted: bool, cells: list[tuple[int, int]], patch: int):
        """The masked input, then one copy per cell with a patch x patch square hidden by `fill`."""
        if fill in inpaint.HOLE_FILLS:
            small, hole = self.resized_photo(), self.hole(mask, keep_painted)
            yield inpaint.hole_filled_input(fill, small, hole, self.spec, self.fills.seed)
            for y, x in cells:
                yield occlusion.occlude_hole_filled(fill, small, hole, self.spec, y, x, patch, self.fills.seed)
            return
        base, fill_view = self.input_for(mask, fill, keep_painted), self.view(fill)
        yield base
        for y, x in cells:
            yield occlusion.occlude(base, fill_view, y, x, patch)

    def resized_photo(self) -> np.ndarray:
        """The whole photo at the model's resize (uint8), where inpainting happens; computed once."""
        if self._resized is None:
            self._resized = inpaint.resized_image(self.rgb, self.spec)
        return self._resized

    def hole(self, mask: bytes, keep_painted: bool) -> np.ndarray:
        """What the inpaint fill fills, at the resized size (bool)."""
        small = self.resized_photo()
        if mask:
            hole = inpaint.resized_hole(decode_mask(mask, self.width, self.height), (small.shape[1], small.shape[0]))
        else:
            hole = np.zeros(small.shape[:2], bool)
        return ~hole if keep_painted else hole


def difference_in(rgb: np.ndarray, fill: np.ndarray, box: Box) -> np.ndarray:
    """fill - image inside `box`, per channel (3 x h x w float32): what painting a pixel adds to it."""
    left, top, right, bottom = box
    pixels = rgb[top:bottom, left:right]
    out = np.empty((3, bottom - top, right - left), np.float32)
    for c in range(3):  # channel by channel: no H x W x 3 float copy to transpose
        np.subtract(fill[c] if fill.ndim == 1 else fill[top:bottom, left:right, c], pixels[:, :, c], out=out[c],
                    dtype=np.float32)
    return out


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])
