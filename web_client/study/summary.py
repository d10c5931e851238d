"""Did they learn what the model relies on? Per participant and overall: how well their *before*
and *after* maps agree with the model's occlusion map, how often the class they expected was the
model's, and their time on task. Pure: the study, its events and the model's answers in, rows out.

A participant's map is what they painted as "what the model needs" (a `map` event: the photo and
a PNG mask), as coverage of the occlusion map's cells; agreement is maskscope.maps.agreement, as
on the page; beside it Shared Interest's IoU, ground-truth coverage and saliency coverage of their
region and the model's (analysis.shared_interest).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from maskscope.maps import agreement, coverage
from maskscope.photos import painted_plane
from web_client import cpu
from web_client.study.analysis import shared_interest
from web_client.study.definition import IMPLICIT

SHARED = ("iou", "ground_truth_coverage", "saliency_coverage")  # Shared Interest's figures


@dataclass(frozen=True)
class ModelView:
    """What the model does with one photo: its top class and its occlusion map over `crop`."""

    label: str
    drop: np.ndarray  # rows x cols
    crop: tuple[float, float, float, float]


def mask_array(png_b64: str) -> np.ndarray:
    """A stored map's painted pixels, by the rule the service reads masks by (maskscope.photos)."""
    with Image.open(io.BytesIO(base64.b64decode(png_b64))) as image:
        return np.asarray(painted_plane(image)) != 0


def map_coverage(png_b64: str, view: ModelView) -> np.ndarray | None:
    """A stored map as coverage of the model's map's cells; None for a mask that cannot be read
    (maps are checked as they are stored: an older database may still hold one)."""
    try:
        return coverage(mask_array(png_b64), view.crop, *view.drop.shape)
    except (OSError, ValueError):
        return None




def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.mean(values)), 4) if values else None


def participant_rows(study, events, views: dict[str, ModelView], run=cpu.run) -> list[dict]:
    """One row per participant: before/after agreement and correctness (means over photos), seconds.
    `events` is read once, in order; `run(fn, *args)` runs each map's pixel work (the web app: off
    its event loop)."""
    phases = {i: step.kind for i, step in enumerate(study.steps)}
    people: dict[str, dict] = {}
    for e in events:
        row = people.setdefault(e["participant_id"], {"participant_id": e["participant_id"], "agreement": {
            "before": [], "after": []}, "correct": {"before": [], "after": []}, "first": e["at"], "last": e["at"],
            "finished": False, "condition": e.get("condition", IMPLICIT),
            **{k: {"before": [], "after": []} for k in SHARED}})
        row["last"] = e["at"]
        row["finished"] |= e["kind"] == "finish"
        phase = phases.get(e["step"])
        if phase not in ("before", "after"):
            continue
        view = views.get(e["payload"].get("photo", ""))
        if view is None:
            continue
        if e["kind"] == "map" and e["payload"].get("mask"):
            covered = run(map_coverage, e["payload"]["mask"], view)
            if covered is not None:
                row["agreement"][phase].append(agreement(covered, view.drop))
                shared = shared_interest(covered, view.drop)
                for k in SHARED:
                    row[k][phase].append(None if shared is None else shared[k])
        elif e["kind"] == "prediction":
            row["correct"][phase].append(float(e["payload"].get("label") == view.label))
    return [{"participant_id": pid, "finished": r["finished"],
             "before_agreement": _mean(r["agreement"]["before"]), "after_agreement": _mean(r["agreement"]["after"]),
             "before_correct": _mean(r["correct"]["before"]), "after_correct": _mean(r["correct"]["after"]),
             "seconds": round((r["last"] - r["first"]).total_seconds(), 1), "condition": r["condition"],
             **{f"{phase}_{k}": _mean(r[k][phase]) for k in SHARED for phase in ("before", "after")}}
            for pid, r in people.items()]


def overall(rows: list[dict]) -> dict:
    """The means over participants (each over those who have that figure), how many moved toward
    the model (after agreement > before), and the before/after means over the paired participants
    alone (who have both maps; for correctness, both predictions): the comparison to report, since
    a mean over everyone who did only the first half is no "before" of the same people."""
    keys = ("before_agreement", "after_agreement", "before_correct", "after_correct", "seconds")
    shared = tuple(f"{phase}_{k}" for k in SHARED for phase in ("before", "after"))
    paired = [r for r in rows if r["before_agreement"] is not None and r["after_agreement"] is not None]
    # Predictions pair on their own: a study may ask for classes, not maps, or the other way.
    paired_correct = [r for r in rows if r["before_correct"] is not None and r["after_correct"] is not None]
    return {"participants": len(rows), "finished": sum(r["finished"] for r in rows),
            **{k: _mean(r[k] for r in rows) for k in keys},
            **{k: _mean(r.get(k) for r in rows) for k in shared},
            "moved_toward_the_model": sum(r["after_agreement"] > r["before_agreement"] for r in paired),
            "paired": len(paired), "paired_correct": len(paired_correct),
            "paired_means": {**{k: _mean(r[k] for r in paired) for k in keys[:2]},
                             **{k: _mean(r[k] for r in paired_correct) for k in keys[2:4]}}}


def by_condition(study, rows: list[dict]) -> dict:
    """`overall`'s figures for each of the study's conditions (every one, those nobody is in yet
    too), over the participants in it."""
    return {c.name: overall([r for r in rows if r["condition"] == c.name]) for c in study.conditions_or_all}


def deletion_areas(study, events, views: dict[str, ModelView], measure, run=cpu.run) -> dict:
    """Faithfulness of the participants' maps as RISE measures it: `measure(photo, values, crop)` is
    the deletion area of a map (lower: it found what the model needs sooner). Per participant the
    mean over their before and after maps, and the model's own map of each photo to compare."""
    phases = {i: step.kind for i, step in enumerate(study.steps)}
    areas: dict[str, dict[str, list[float]]] = {}
    for e in events:
        phase, view = phases.get(e["step"]), views.get(e["payload"].get("photo", ""))
        if e["kind"] != "map" or phase not in ("before", "after") or view is None or not e["payload"].get("mask"):
            continue
        values = run(map_coverage, e["payload"]["mask"], view)
        if values is None:
            continue
        areas.setdefault(e["participant_id"], {"before": [], "after": []})[phase].append(
            measure(e["payload"]["photo"], values, view.crop))
    return {"model": {photo: measure(photo, view.drop, view.crop) for photo, view in views.items()},
            "participants": {pid: {"before_deletion_area": _mean(a["before"]), "after_deletion_area": _mean(a["after"])}
                             for pid, a in areas.items()}}
