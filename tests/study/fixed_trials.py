"""A small fixed set of simulation trials, written through the store, whose figures are worked out
by hand below: two conditions (`paint`, and `none`, the control), two participants each, a forward
pre phase of three photos (the model right on rocket, wrong on chelsea, china without a true class)
and a counterfactual post phase of two, which one participant (B) left after one trial, so that a
mean over participants differs from a mean over trials."""

from __future__ import annotations

STUDY = {"id": "fixed-trials", "title": "Can you predict it?", "consent": "I agree.", "photos": ["coffee"],
         "conditions": [{"name": "paint"}, {"name": "none", "paint": False}], "control": "none",
         "assignment": {"seed": 28}, "labels": {"rocket": "missile", "chelsea": "Egyptian cat"},
         "steps": [{"kind": "forward", "phase": "pre", "photos": ["rocket", "chelsea", "china"]},
                   {"kind": "counterfactual", "phase": "post", "photos": ["rocket", "chelsea"]}]}

# What the model says of each photo (whole, and with the counterfactual's region hidden), its true
# class, and the forward trial's choices in the order shown.
MODEL = {"rocket": ("missile", "missile", "projectile"), "chelsea": ("tabby", "Egyptian cat", "tabby"),
         "china": ("china cabinet", None, None)}
CANDIDATES = {"rocket": ["projectile", "missile", "space shuttle"], "chelsea": ["tiger cat", "tabby", "Egyptian cat"],
              "china": ["china cabinet", "plate rack", "dining table"]}
# Each participant's trials in order: (step, photo, right?, confidence). B answered one post trial.
ANSWERS = {
    "A": [(0, "rocket", True, 2), (0, "chelsea", False, 1), (0, "china", True, 3), (1, "rocket", True, 5),
          (1, "chelsea", True, 4)],
    "B": [(0, "rocket", False, 3), (0, "chelsea", False, 2), (0, "china", False, 1), (1, "chelsea", False, 3)],
    "C": [(0, "rocket", True, 3), (0, "chelsea", False, 3), (0, "china", True, 3), (1, "rocket", True, 2),
          (1, "chelsea", False, 2)],
    "D": [(0, "rocket", False, 1), (0, "chelsea", False, 1), (0, "china", False, 1), (1, "rocket", False, 3),
          (1, "chelsea", False, 5)],
}
ROLES = {"paint": ("A", "B"), "none": ("C", "D")}

# The figures, by hand. Accuracy is each participant's share right, averaged over participants:
#   paint pre  (2/3 + 0) / 2 = 1/3      paint post (1 + 0) / 2 = 0.5   (over trials it would be 2/3)
#   none  pre  (2/3 + 0) / 2 = 1/3      none  post (1/2 + 0) / 2 = 0.25
# Confidence the same way: paint pre (2 + 2)/2 = 2, post (4.5 + 3)/2 = 3.75; none pre (3 + 1)/2 = 2,
# post (2 + 4)/2 = 3. Utility: paint's post accuracy minus none's, 0.5 - 0.25 = 0.25.
# Intervals over two participants: a resample is both of one or one of each, each of the two
# extremes 1/4 of the time (for utility, both groups' extremes: 1/16), beyond the 2.5% tails, so the
# 95% interval is the extremes: paint post [0, 1]; none post [0, 0.5]; utility [0 - 0.5, 1 - 0] = [-0.5, 1].
EXPECTED = {
    ("paint", "pre", "all"): {"trials": 6, "accuracy": (1 / 3, 0.0, 2 / 3, 2), "confidence": (2.0, 2.0, 2.0, 2),
                              "calibration": {1: (0.0, 2), 2: (0.5, 2), 3: (0.5, 2), 4: (None, 0), 5: (None, 0)}},
    ("paint", "pre", "model_correct"): {"trials": 2, "accuracy": (0.5, 0.0, 1.0, 2)},
    ("paint", "pre", "model_incorrect"): {"trials": 2, "accuracy": (0.0, 0.0, 0.0, 2)},
    ("paint", "post", "all"): {"trials": 3, "accuracy": (0.5, 0.0, 1.0, 2), "confidence": (3.75, 3.0, 4.5, 2),
                               "calibration": {1: (None, 0), 2: (None, 0), 3: (0.0, 1), 4: (1.0, 1), 5: (1.0, 1)}},
    # Only A answered rocket after: one participant, no interval.
    ("paint", "post", "model_correct"): {"trials": 1, "accuracy": (1.0, None, None, 1)},
    ("paint", "post", "model_incorrect"): {"trials": 2, "accuracy": (0.5, 0.0, 1.0, 2)},
    ("none", "pre", "all"): {"trials": 6, "accuracy": (1 / 3, 0.0, 2 / 3, 2), "confidence": (2.0, 1.0, 3.0, 2)},
    ("none", "post", "all"): {"trials": 4, "accuracy": (0.25, 0.0, 0.5, 2), "confidence": (3.0, 2.0, 4.0, 2),
                              "calibration": {1: (None, 0), 2: (0.5, 2), 3: (0.0, 1), 4: (None, 0), 5: (0.0, 1)}},
}
UTILITY = (0.25, -0.5, 1.0, 4)  # value, low, high, participants


def _payload(step: int, photo: str, right: bool, confidence: int, ms: int) -> dict:
    model_label, true_label, hidden_label = MODEL[photo]
    phase, kind = ("pre", "forward") if step == 0 else ("post", "counterfactual")
    payload = {"photo": photo, "kind": kind, "phase": phase, "confidence": confidence, "correct": right,
               "model_label": model_label, "true_label": true_label, "ms": ms,
               "model_correct": None if true_label is None else model_label == true_label}
    if kind == "forward":
        wrong = next(c for c in CANDIDATES[photo] if c != model_label)
        return {**payload, "candidates": CANDIDATES[photo], "choice": model_label if right else wrong}
    still = hidden_label == model_label
    return {**payload, "candidates": ["yes", "no"], "choice": "yes" if still == right else "no",
            "hidden_by": "search" if photo == "rocket" else "rectangle", "hidden_label": hidden_label}


def record_trials(store, study_id: str = STUDY["id"]) -> dict[str, str]:
    """Four participants join (the permuted blocks of two give each condition two) and answer
    ANSWERS as stored `trial` events; {role: participant id}."""
    joined = [store.new_participant(study_id) for _ in range(4)]
    roles = {}
    for condition, names in ROLES.items():
        for name, p in zip(names, [p for p in joined if p.condition == condition], strict=True):
            roles[name] = p.id
    for name, pid in roles.items():
        store.record(pid, study_id, "consent", 0, {})
        step = None
        for i, (trial_step, photo, right, confidence) in enumerate(ANSWERS[name]):
            if trial_step != step:
                if step is not None:
                    store.record(pid, study_id, "step-end", step, {})
                step = trial_step
                store.record(pid, study_id, "step-start", step, {})
            store.record(pid, study_id, "trial", step, _payload(step, photo, right, confidence, 1000 + 100 * i))
    return roles
