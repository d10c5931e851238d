"""Study mode's protocol: what a participant may record, when, and what it changes (consent
first, steps in order, each photo's answer once, nothing after finishing, nothing a participant's
condition does not allow). Pure: the participant as stored, the study and the event in; the
changes to the participant out, or the error that refuses the event.

Steps are numbered in the study's whole list, in every event and export; a participant goes
through the steps their condition sees (`visible_steps`) and skips the others (a step's end moves
them to the next one they see). The store applies it inside its write transaction (store.py); the web app asks
it before it does work for an event that would be refused (a classification)."""

from __future__ import annotations

import datetime as dt

ANSWER_KINDS = ("map", "prediction", "trial")  # one per photo and step: what a before or after step, or a trial, asks
TRIAL_EVENTS = ("trial-start", "trial")  # written by the web app itself (views.py), only in a trial step


class StoreError(ValueError):
    """A request the store refuses; `status` is the HTTP status it stands for."""

    status = 400


class Finished(StoreError):
    status = 409


class AlreadyAnswered(StoreError):
    status = 409


class NotInCondition(StoreError):
    """What the participant's condition does not show them (the model's map, painting)."""

    status = 403


def sees(step, condition) -> bool:
    return not step.only or condition.name in step.only


def visible_steps(study, condition) -> list[int]:
    """The numbers (in the study's whole list) of the steps this condition goes through."""
    return [i for i, step in enumerate(study.steps) if sees(step, condition)]


def next_step(study, condition, after: int) -> int:
    """The first step after `after` this condition sees; past the last, len(study.steps) (finish)."""
    return next((i for i in visible_steps(study, condition) if i > after), len(study.steps))


def shows_map(step, condition) -> bool:
    """The model's occlusion map: in explore steps, where the condition shows it (the implicit
    condition: where the step says so)."""
    return step.kind == "explore" and (step.map if condition.map is None else condition.map)


def paints(step, condition) -> bool:
    """Painting with the model's answers: explore steps, where the condition allows it. (A before
    or after step's painting is its answer, in every condition.)"""
    return step.kind != "explore" or condition.paint


def check_step(study, kind: str, step: int) -> None:
    """Every event but consent and finishing belongs to one of the study's steps."""
    if not 0 <= step < len(study.steps) and kind not in ("consent", "finish"):
        raise StoreError(f"step {step}: study {study.id!r} has steps 0 to {len(study.steps) - 1}")


def changes(participant, study, kind: str, step: int, at: dt.datetime, photo: str | None = None,
            answered: set[str] = frozenset(), masked: bool = False) -> dict:
    """The participant's columns an event of `kind` in `step` changes (consent, a step's end and
    finishing move them on), or the StoreError that refuses it. `participant` has `finished_at`,
    `consented_at`, `step` and `condition` (a stored row or a Participant; no condition: `all`);
    `photo` and `answered`: for an answer (a map or a prediction), its photo and the photos this
    participant has answered in that step already; `masked`: a classification of a painted photo."""
    check_step(study, kind, step)
    condition = study.condition(getattr(participant, "condition", None))
    if participant.finished_at is not None:
        raise Finished("this participant has finished the study; it cannot be done again")
    if kind == "consent":
        return {"consented_at": at}
    if participant.consented_at is None:
        raise StoreError("consent comes first: nothing is recorded before the participant agrees")
    if kind == "finish":
        if participant.step < len(study.steps):
            raise StoreError(f"the study has {len(study.steps)} steps; this participant is on step {participant.step}")
        return {"finished_at": at}
    if step != participant.step:  # steps are taken in order: none skipped, none gone back to
        raise StoreError(f"this participant is on step {participant.step}, not {step}")
    here = study.steps[step]
    if kind == "map-view" and not shows_map(here, condition):
        if here.kind == "explore" and condition.map is not None:
            raise NotInCondition(f"condition {condition.name!r} does not show the model's map")
        raise StoreError(f"step {step} does not show the model's map")
    if (kind == "stroke" or (kind == "classify" and masked)) and not paints(here, condition):
        raise NotInCondition(f"condition {condition.name!r} does not paint in explore steps: the model answers "
                             "for the photo itself (a classification without a mask)")
    if kind in TRIAL_EVENTS and (here.kind not in ("forward", "counterfactual") or photo not in here.photos):
        raise StoreError(f"step {step} ({here.kind}) has no trial of this photo")
    if kind in ANSWER_KINDS and photo in answered:
        named = study.photos.index(photo) if photo in study.photos else here.photos.index(photo)
        raise AlreadyAnswered(f"this participant's {kind} of photo {named} in step {step} is "
                              "stored already; it cannot be given again")
    return {"step": next_step(study, condition, step)} if kind == "step-end" else {}
