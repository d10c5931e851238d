"""Study mode's protocol: what a participant may record, when, and what it changes (consent
first, steps in order, each photo's answer once, nothing after finishing). Pure: the participant
as stored, the study and the event in; the changes to the participant out, or the error that
refuses the event. The store applies it inside its write transaction (store.py); the web app asks
it before it does work for an event that would be refused (a classification)."""

from __future__ import annotations

import datetime as dt

ANSWER_KINDS = ("map", "prediction")  # one per photo and step: what a before or after step asks


class StoreError(ValueError):
    """A request the store refuses; `status` is the HTTP status it stands for."""

    status = 400


class Finished(StoreError):
    status = 409


class AlreadyAnswered(StoreError):
    status = 409


def check_step(study, kind: str, step: int) -> None:
    """Every event but consent and finishing belongs to one of the study's steps."""
    if not 0 <= step < len(study.steps) and kind not in ("consent", "finish"):
        raise StoreError(f"step {step}: study {study.id!r} has steps 0 to {len(study.steps) - 1}")


def changes(participant, study, kind: str, step: int, at: dt.datetime, photo: str | None = None,
            answered: set[str] = frozenset()) -> dict:
    """The participant's columns an event of `kind` in `step` changes (consent, a step's end and
    finishing move them on), or the StoreError that refuses it. `participant` has `finished_at`,
    `consented_at` and `step` (a stored row or a Participant); `photo` and `answered`: for an
    answer (a map or a prediction), its photo and the photos this participant has answered in
    that step already."""
    check_step(study, kind, step)
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
    if kind == "map-view" and not (study.steps[step].kind == "explore" and study.steps[step].map):
        raise StoreError(f"step {step} does not show the model's map")
    if kind in ANSWER_KINDS and photo in answered:
        raise AlreadyAnswered(f"this participant's {kind} of photo {study.photos.index(photo)} in step {step} is "
                              "stored already; it cannot be given again")
    return {"step": step + 1} if kind == "step-end" else {}
