"""Painting in code: one photo, a mask built up by hiding and showing parts of it, each step classified."""

from __future__ import annotations

import numpy as np

from maskscope.photos import as_photo, mask_bits
from maskscope.results import Result


class PaintingSession:
    """Made by `Client.session(photo)`. The photo is converted once and sent once (the client
    sends its id after that); from the second `classify` on, the first answer's top class is
    tracked, as the page tracks it, so `probability` finds it whatever its rank."""

    def __init__(self, client, photo, *, model: str = "", fill: str = "gray", keep_painted: bool = False,
                 top_k: int = 0):
        self.photo = as_photo(photo)
        self.mask = np.zeros((self.photo.height, self.photo.width), bool)  # True: hidden
        self.history: list[Result] = []
        self._client = client
        self._options = {"model": model, "fill": fill, "keep_painted": keep_painted, "top_k": top_k}
        self._undo: list[np.ndarray] = []

    def hide(self, mask) -> PaintingSession:
        """Hides the mask's painted pixels too (a mask as `Client.classify` takes it)."""
        return self._paint(self.mask | mask_bits(mask, self.photo.size))

    def show(self, mask) -> PaintingSession:
        """Shows the mask's painted pixels again."""
        return self._paint(self.mask & ~mask_bits(mask, self.photo.size))

    def hide_box(self, left: int, top: int, right: int, bottom: int) -> PaintingSession:
        """Hides a box, in the photo's pixels; right and bottom exclusive."""
        box = np.zeros_like(self.mask)
        box[max(top, 0):max(bottom, 0), max(left, 0):max(right, 0)] = True  # negative indices would wrap round
        return self.hide(box)

    def undo(self) -> PaintingSession:
        if not self._undo:
            raise IndexError("nothing to undo")
        self.mask = self._undo.pop()
        return self

    def classify(self) -> Result:
        """Classifies the photo as now masked, and adds the answer to `history`."""
        track = (self.history[0].top.class_index,) if self.history else ()
        result = self._client.classify(self.photo, self.mask, track=track, **self._options)
        self.history.append(result)
        return result

    def _paint(self, mask: np.ndarray) -> PaintingSession:
        self._undo.append(self.mask)
        self.mask = mask
        return self

    def __repr__(self) -> str:
        return (f"<PaintingSession {self.photo.width}x{self.photo.height}, {int(self.mask.sum())} pixels hidden, "
                f"{len(self.history)} classified>")
