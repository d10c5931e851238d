"""How well a map explains the model, as the literature measures it: hide the photo's cells in the
order a map ranks them, classify after each step, and take the area under the class's
probability (RISE's deletion curve); or start from everything hidden and show the cells in that
order (insertion). Each in both orders, the map's most important cells first and its least
important first (ROAD's MoRF and LeRF). A faithful map: deletion most-first low, least-first
high; insertion most-first high, least-first low. The model's occlusion map, the user's own map
and a random order (the baseline) are measured alike, with the fill asked for (how pixels are
removed changes the curves: the impute fill removes them without drawing the mask's shape)."""

from __future__ import annotations

import numpy as np

from maskscope.maps import cells_to_png, deletion_auc, deletion_cells, deletion_order
from maskscope.v1 import classifier_pb2 as pb
from web_client import cpu
from web_client.limits import MAX_FAITHFULNESS_STEPS

DEFAULT_STEPS = 10
RANDOM_SEED = 0  # the same random order every time: the baseline is reproducible
KINDS = ("deletion", "insertion")
ORDERS = ("most", "least")  # the map's most important cells first (MoRF), or its least (LeRF)


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


def classifications(steps: int, maps: int, baseline: bool = True, curves_per_map: int = 1) -> int:
    """What measuring `maps` maps costs: a classification per point of each curve."""
    return (steps + 1) * (maps + baseline) * curves_per_map


def check_kinds(kinds, orders) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The curves asked for, checked: kinds of KINDS, orders of ORDERS, each at most once."""
    for name, given, allowed in (("kinds", kinds, KINDS), ("orders", orders, ORDERS)):
        if (not isinstance(given, (list, tuple)) or not given or len(set(given)) != len(given)
                or not all(isinstance(g, str) and g in allowed for g in given)):
            raise FaithfulnessError(f"{name} is a list of one or more of {', '.join(allowed)}, each once; got {given!r}")
    return tuple(kinds), tuple(orders)


def check_cost(steps: int, maps: int, baseline: bool = True, max_classifications: int | None = None,
               curves_per_map: int = 1) -> int:
    """The classifications a measurement takes, refused (FaithfulnessError) past the budget."""
    if not 1 <= steps <= MAX_FAITHFULNESS_STEPS:
        raise FaithfulnessError(f"steps must be between 1 and {MAX_FAITHFULNESS_STEPS}; got {steps}")
    if not maps:
        raise FaithfulnessError("give at least one map")
    cost = classifications(steps, maps, baseline, curves_per_map)
    if max_classifications is not None and cost > max_classifications:
        raise FaithfulnessError(f"{maps} map(s) at {steps} steps, {curves_per_map} curve(s) each, take {cost} "
                                f"classifications; one request may take at most {max_classifications} (fewer steps, "
                                "maps or curves)")
    return cost


def curves(classify, base: pb.ClassifyRequest, width: int, height: int, maps: dict, class_index: int,
           steps: int = DEFAULT_STEPS, baseline: bool = True, max_classifications: int | None = None,
           max_mask_pixels: int | None = None, kinds=("deletion",), orders=("most",)) -> dict:
    """Each map's curves ({name: {"deletion-most": {probabilities, auc}, ...}}, a curve per kind
    and order), plus (with `baseline`) a random order's over the first map's cells.
    `classify(request) -> ClassifyResponse`; `base` names the photo, model and fill. Each step's
    mask is made when it is sent, from packed rows (maskscope.maps.cells_to_png), so a call holds
    one mask of the photo's size at a time, whatever `steps` is."""
    kinds, orders = check_kinds(kinds, orders)
    cost = check_cost(steps, len(maps), baseline, max_classifications, len(kinds) * len(orders))
    if max_mask_pixels is not None and cost * width * height > max_mask_pixels:
        raise FaithfulnessError(f"{cost} masks of this {width}x{height} photo are {cost * width * height / 1e6:,.0f} "
                                f"megapixels; one request may send at most {max_mask_pixels / 1e6:,.0f} (fewer steps "
                                "or maps)")
    parsed = {name: parse_map(data, name) for name, data in maps.items()}
    first_values, first_crop = next(iter(parsed.values()))
    ranked = {name: (deletion_order(values), values.shape, crop) for name, (values, crop) in parsed.items()}
    if baseline:
        ranked["random"] = (deletion_order(first_values, seed=RANDOM_SEED), first_values.shape, first_crop)
    out = {}
    for name, (order, shape, crop) in ranked.items():
        out[name] = {}
        for kind, direction in ((k, o) for k in kinds for o in orders):
            probabilities = []
            for cells in deletion_cells(order if direction == "most" else order[::-1], shape, steps):
                request = pb.ClassifyRequest()
                request.CopyFrom(base)
                request.mask = cpu.run(cells_to_png, cells, crop, width, height)
                # Insertion: the cells so far are what is kept, everything else hidden.
                request.keep_painted = kind == "insertion"
                request.track[:], request.top_k = [class_index], 1
                request.priority = pb.PRIORITY_BULK  # nobody waits on one of these alone
                probabilities.append(classify(request).tracked[0].probability)
            out[name][f"{kind}-{direction}"] = {"probabilities": [round(p, 6) for p in probabilities],
                                                "auc": round(deletion_auc(probabilities), 6)}
    return out
