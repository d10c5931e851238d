"""Simulation trials (issue 28): what a forward or a counterfactual trial shows a participant and
how its answer is scored. Pure: the model's answers, the photo's true label and the participant
in; the candidates, the region's rule and the trial's row out. The web app does the model's work
(views.py) and the store keeps the events; nothing here reaches either.

A forward trial shows a held-out photo and asks which of a few classes the model says: the
model's top CANDIDATES classes and the photo's true class when the study gives one and it is not
among them, in an order shuffled per participant and photo (so position says nothing). A
counterfactual trial shows the photo with a region hidden and asks "will the model still say X?"
(X: its answer for the whole photo): for half the trials the region is the smallest the model's
region search (Search, goal flip) found to change its answer, for the other half a rectangle of
the same area where the search's region is not, so that yes and no are both common; which half a
trial is in alternates with the photo's place in the step and the participant's join number. The
right answer is always the model's own, classified with that region hidden.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

CANDIDATES = 3      # the model's top classes offered in a forward trial
CONFIDENCE = (1, 2, 3, 4, 5)
ANSWERS = ("yes", "no")  # a counterfactual trial's choices


def candidates(top: Sequence[str], true_label: str | None, participant_id: str, photo: str) -> list[str]:
    """A forward trial's choices: the model's top CANDIDATES and the true class (when given and
    not among them), shuffled by a generator seeded with the participant and the photo (a string
    seed: random.Random hashes it with SHA-512, the same everywhere)."""
    choices = list(dict.fromkeys(top[:CANDIDATES]))
    if true_label and true_label not in choices:
        choices.append(true_label)
    random.Random(f"{participant_id}:{photo}").shuffle(choices)
    return choices


def hides_search_region(photo_number: int, participant_number: int | None) -> bool:
    """Whether a counterfactual trial hides the region the search found to change the answer
    (True) or a rectangle of the same area elsewhere (False): alternating along the step's photos,
    and shifted by the participant's join number, so each photo gets both in equal shares."""
    return (photo_number + (participant_number or 0)) % 2 == 0


def rectangle_away(width: int, height: int, area: float, hidden_box: tuple[int, int, int, int] | None,
                   crop: tuple[int, int, int, int] | None = None) -> tuple[int, int, int, int]:
    """A rectangle of `area` (a share of the crop, 0-1) with the crop's proportions, in the corner
    of the crop farthest from `hidden_box` (the search's region's bounding box; None: the top left):
    (left, top, right, bottom) in pixels."""
    left, top, right, bottom = crop or (0, 0, width, height)
    cw, ch = right - left, bottom - top
    scale = max(0.0, min(1.0, area)) ** 0.5
    w, h = max(1, round(cw * scale)), max(1, round(ch * scale))
    corners = [(left, top), (right - w, top), (left, bottom - h), (right - w, bottom - h)]
    if hidden_box is None:
        x, y = corners[0]
    else:
        cx, cy = (hidden_box[0] + hidden_box[2]) / 2, (hidden_box[1] + hidden_box[3]) / 2
        x, y = max(corners, key=lambda c: ((c[0] + w / 2 - cx) ** 2 + (c[1] + h / 2 - cy) ** 2, -c[1], -c[0]))
    return x, y, x + w, y + h


def score(kind: str, choice: str, truth: str) -> bool:
    """Whether a participant simulated the model: forward, `truth` is the model's class; a
    counterfactual, "yes" or "no" (whether the model still says its class)."""
    return choice == truth


def check_answer(kind: str, choice, confidence, offered: Sequence[str]) -> str | None:
    """What is wrong with an answer (None: nothing): the choice one of those offered, the
    confidence a whole number from 1 to 5."""
    if not isinstance(choice, str) or choice not in offered:
        return f"`choice` is one of {', '.join(map(repr, offered))}"
    if not isinstance(confidence, int) or isinstance(confidence, bool) or confidence not in CONFIDENCE:
        return "`confidence` is a whole number from 1 to 5"
    return None
