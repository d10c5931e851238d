"""How well a map explains the model, as the literature measures it (RISE's deletion curve): hide
the photo's cells in the order a map ranks them, classify after each step, and take the area
under the class's probability. Lower is better: the map found what the model needs sooner. The
model's occlusion map, the user's own map and a random order (the baseline) are measured alike,
with the fill the page uses (how pixels are removed changes the curves)."""

from __future__ import annotations

import numpy as np

from maskscope.maps import cells_to_png, deletion_auc, deletion_cells, deletion_order
from maskscope.v1 import classifier_pb2 as pb
from web_client import cpu
from web_client.limits import MAX_FAITHFULNESS_STEPS

DEFAULT_STEPS = 10
RANDOM_SEED = 0  # the same random order every time: the baseline is reproducible


class FaithfulnessError(ValueError):
    """The request cannot be measured; the message says why."""


def parse_map(data, name: str) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A map as the page has it ({rows, cols, drop, crop: {left, top, right, bottom}}) as arrays."""
    try:
        rows, cols = int(data["rows"]), int(data["cols"])
        drop = np.asarray(data["drop"], float)
        crop = tuple(float(data["crop"][k]) for k in ("left", "top", "right", "bottom"))
    except (KeyError, TypeError, ValueError):
        raise FaithfulnessError(f"map {name!r}: give rows, cols, drop (rows x cols numbers) and crop "
                                "(left, top, right, bottom)") from None
    if not (1 <= rows <= 64 and 1 <= cols <= 64) or drop.size != rows * cols or not np.all(np.isfinite(drop)):
        raise FaithfulnessError(f"map {name!r}: drop must hold rows x cols ({rows} x {cols}, at most 64 x 64) "
                                "finite numbers")
    if not (crop[2] > crop[0] and crop[3] > crop[1]):
        raise FaithfulnessError(f"map {name!r}: its crop is empty")
    return drop.reshape(rows, cols), crop


def classifications(steps: int, maps: int, baseline: bool = True) -> int:
    """What measuring `maps` maps costs: a classification per point of each curve."""
    return (steps + 1) * (maps + baseline)


def check_cost(steps: int, maps: int, baseline: bool = True, max_classifications: int | None = None) -> int:
    """The classifications a measurement takes, refused (FaithfulnessError) past the budget."""
    if not 1 <= steps <= MAX_FAITHFULNESS_STEPS:
        raise FaithfulnessError(f"steps must be between 1 and {MAX_FAITHFULNESS_STEPS}; got {steps}")
    if not maps:
        raise FaithfulnessError("give at least one map")
    cost = classifications(steps, maps, baseline)
    if max_classifications is not None and cost > max_classifications:
        raise FaithfulnessError(f"{maps} map(s) at {steps} steps take {cost} classifications; one request may "
                                f"take at most {max_classifications} (fewer steps or maps)")
    return cost


def curves(classify, base: pb.ClassifyRequest, width: int, height: int, maps: dict, class_index: int,
           steps: int = DEFAULT_STEPS, baseline: bool = True, max_classifications: int | None = None,
           max_mask_pixels: int | None = None) -> dict:
    """Each map's deletion curve and its area, plus (with `baseline`) a random order's over the
    first map's cells. `classify(request) -> ClassifyResponse`; `base` names the photo, model and
    fill. Each step's mask is made when it is sent, from packed rows (maskscope.maps.cells_to_png),
    so a call holds one mask of the photo's size at a time, whatever `steps` is."""
    cost = check_cost(steps, len(maps), baseline, max_classifications)
    if max_mask_pixels is not None and cost * width * height > max_mask_pixels:
        raise FaithfulnessError(f"{cost} masks of this {width}x{height} photo are {cost * width * height / 1e6:,.0f} "
                                f"megapixels; one request may send at most {max_mask_pixels / 1e6:,.0f} (fewer steps "
                                "or maps)")
    parsed = {name: parse_map(data, name) for name, data in maps.items()}
    first_values, first_crop = next(iter(parsed.values()))
    orders = {name: (deletion_order(values), values.shape, crop) for name, (values, crop) in parsed.items()}
    if baseline:
        orders["random"] = (deletion_order(first_values, seed=RANDOM_SEED), first_values.shape, first_crop)
    out = {}
    for name, (order, shape, crop) in orders.items():
        probabilities = []
        for cells in deletion_cells(order, shape, steps):
            request = pb.ClassifyRequest()
            request.CopyFrom(base)
            request.mask = cpu.run(cells_to_png, cells, crop, width, height)
            request.track[:], request.top_k = [class_index], 1
            request.priority = pb.PRIORITY_BULK  # nobody waits on one of these alone
            probabilities.append(classify(request).tracked[0].probability)
        out[name] = {"probabilities": [round(p, 6) for p in probabilities], "auc": round(deletion_auc(probabilities), 6)}
    return out
