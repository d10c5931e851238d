"""The study summary: before/after agreement with the model's map, correct predictions, time."""

import base64
import datetime as dt
import io

import numpy as np
import pytest
from PIL import Image

from web_client.study.definition import parse
from web_client.study.summary import ModelView, overall, participant_rows

STUDY = parse({"id": "s", "title": "t", "consent": "c", "photos": ["coffee"],
               "steps": [{"kind": "before", "task": "paint"}, {"kind": "before", "task": "predict"},
                         {"kind": "explore"}, {"kind": "after", "task": "paint"}, {"kind": "after", "task": "predict"}]})
# The model needs the photo's right half.
VIEW = ModelView("espresso", np.array([[0.0, 0.8], [0.0, 0.6]]), (0, 0, 40, 40))
T0 = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc)


def png(mask) -> str:
    out = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def half(side: str) -> np.ndarray:
    mask = np.zeros((40, 40), bool)
    if side == "right":
        mask[:, 20:] = True
    else:
        mask[:, :20] = True
    return mask


def events(pid, before_side, after_side, before_label, after_label, seconds=90):
    rows = [("consent", 0, {}), ("map", 0, {"photo": "coffee", "mask": png(half(before_side))}),
            ("prediction", 1, {"photo": "coffee", "label": before_label}),
            ("classify", 2, {"top": "espresso"}),
            ("map", 3, {"photo": "coffee", "mask": png(half(after_side))}),
            ("prediction", 4, {"photo": "coffee", "label": after_label}), ("finish", 5, {})]
    return [{"participant_id": pid, "kind": k, "step": s, "payload": p,
             "at": T0 + dt.timedelta(seconds=seconds * i / (len(rows) - 1))} for i, (k, s, p) in enumerate(rows)]


def test_a_participant_who_learned_and_one_who_did_not():
    log = events("learned", "left", "right", "cup", "espresso") + events("stayed", "left", "left", "cup", "cup", 30)
    rows = {r["participant_id"]: r for r in participant_rows(STUDY, log, {"coffee": VIEW})}
    learned, stayed = rows["learned"], rows["stayed"]
    assert learned["before_agreement"] < 0 < learned["after_agreement"]
    assert (learned["before_correct"], learned["after_correct"]) == (0.0, 1.0)
    assert stayed["before_agreement"] == stayed["after_agreement"] < 0 and stayed["after_correct"] == 0.0
    assert learned["seconds"] == 90 and stayed["seconds"] == 30 and learned["finished"]
    summary = overall(list(rows.values()))
    assert summary["moved_toward_the_model"] == 1 and summary["paired"] == 2 and summary["participants"] == 2
    assert summary["after_correct"] == 0.5 and summary["seconds"] == 60


def test_events_of_other_photos_or_steps_do_not_count():
    log = events("p", "right", "right", "espresso", "espresso")
    log[1]["payload"]["photo"] = "unknown-photo"
    row = participant_rows(STUDY, log, {"coffee": VIEW})[0]
    assert row["before_agreement"] is None and row["after_agreement"] > 0.9


def test_deletion_areas_average_each_phase_and_measure_the_models_map():
    from web_client.study.summary import deletion_areas
    seen = []

    def measure(photo, values, crop):  # the area as the share of the map's right half the values cover
        seen.append(photo)
        return float(1 - values[:, 1].mean())

    log = events("p", "left", "right", "cup", "espresso")
    areas = deletion_areas(STUDY, log, {"coffee": VIEW}, measure)
    assert areas["participants"]["p"] == {"before_deletion_area": 1.0, "after_deletion_area": 0.0}
    assert areas["model"]["coffee"] == pytest.approx(1 - 0.7) and seen == ["coffee"] * 3


def test_the_paired_means_leave_out_who_did_only_one_half():
    log = events("learned", "left", "right", "cup", "espresso")
    halfway = [e for e in events("halfway", "right", "right", "espresso", "espresso") if e["step"] < 3]
    rows = participant_rows(STUDY, log + halfway, {"coffee": VIEW})
    summary = overall(rows)
    learned = next(r for r in rows if r["participant_id"] == "learned")
    assert summary["paired"] == 1 and summary["participants"] == 2
    assert summary["paired_means"]["before_agreement"] == learned["before_agreement"]
    assert summary["paired_means"]["after_agreement"] == learned["after_agreement"]
    # Everyone's "before" mean takes in the one who stopped halfway, and so it is no baseline.
    assert summary["before_agreement"] != summary["paired_means"]["before_agreement"]
    assert summary["paired_correct"] == 1 and summary["paired_means"]["after_correct"] == 1.0


def test_predictions_pair_on_their_own_when_no_maps_were_painted():
    log = [e for e in events("p", "left", "right", "cup", "espresso") if e["kind"] != "map"]
    summary = overall(participant_rows(STUDY, log, {"coffee": VIEW}))
    assert summary["paired"] == 0 and summary["paired_correct"] == 1
    assert summary["paired_means"]["before_correct"] == 0.0 and summary["paired_means"]["after_correct"] == 1.0


def test_a_stored_map_is_read_by_the_services_rule_for_painted_pixels():
    """The page's masks carry alpha: painted where alpha is set, whatever the colour."""
    from PIL import Image

    from web_client.study.summary import mask_array
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[:, :, :3] = 255      # white everywhere...
    rgba[1:3, 2:5, 3] = 255   # ...but painted (opaque) only here
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    painted = mask_array(base64.b64encode(buffer.getvalue()).decode())
    assert painted.sum() == 6 and painted[1:3, 2:5].all()


def test_each_conditions_figures_over_its_own_participants():
    from web_client.study.summary import by_condition
    study = parse({"id": "s", "title": "t", "consent": "c", "photos": ["coffee"], "steps": [
        {"kind": "before", "task": "paint"}, {"kind": "before", "task": "predict"}, {"kind": "explore"},
        {"kind": "after", "task": "paint"}, {"kind": "after", "task": "predict"}],
        "conditions": [{"name": "paint"}, {"name": "map", "paint": False, "map": True}, {"name": "none", "paint": False}]})
    log = ([{**e, "condition": "paint"} for e in events("learned", "left", "right", "cup", "espresso")]
           + [{**e, "condition": "map"} for e in events("stayed", "left", "left", "cup", "cup", 30)])
    rows = participant_rows(study, log, {"coffee": VIEW})
    assert {r["participant_id"]: r["condition"] for r in rows} == {"learned": "paint", "stayed": "map"}
    figures = by_condition(study, rows)
    assert list(figures) == ["paint", "map", "none"]  # every condition, the empty one too
    assert figures["paint"]["moved_toward_the_model"] == 1 and figures["paint"]["participants"] == 1
    assert figures["map"]["moved_toward_the_model"] == 0 and figures["map"]["seconds"] == 30
    assert figures["none"]["participants"] == 0 and figures["none"]["before_agreement"] is None
    # Events of a store from before conditions carry none: their participants are in `all`.
    assert {r["condition"] for r in participant_rows(STUDY, events("old", "left", "right", "cup", "cup"),
                                                     {"coffee": VIEW})} == {"all"}


def test_shared_interest_beside_agreement():
    """VIEW's salient cells: the right column (0.8 and 0.6 are at least 0.35 of 0.8). Painting the
    right half covers exactly those: IoU 1; the left half shares none: 0."""
    log = events("learned", "left", "right", "cup", "espresso")
    (row,) = participant_rows(STUDY, log, {"coffee": VIEW})
    assert (row["before_iou"], row["after_iou"]) == (0.0, 1.0)
    assert (row["before_ground_truth_coverage"], row["after_ground_truth_coverage"]) == (0.0, 1.0)
    assert (row["before_saliency_coverage"], row["after_saliency_coverage"]) == (0.0, 1.0)
    summary = overall([row])
    assert summary["after_iou"] == 1.0 and summary["before_saliency_coverage"] == 0.0
