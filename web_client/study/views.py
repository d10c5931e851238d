"""Study mode's HTTP side: participants' sessions (each reads and writes only its own, by its
random id) and the researcher's API behind MASKSCOPE_ADMIN_TOKEN.

    GET    /study/<study>                                      the participants' page
    GET    /study/<study>/photos/<n>                           the study's photo n, for that page
    POST   /api/study/<study>/participants                    a new participant: {"participant": id}
    GET    /api/study/<study>/participants/<id>               the study and where this participant is
    POST   /api/study/<study>/participants/<id>/events        {"kind", "step", "payload"}
    POST   /api/study/<study>/participants/<id>/classify      /api/classify's fields plus `step`; logged
    POST   /api/study/<study>/participants/<id>/trials        {"step", "photo"}: a trial shown (never the model's answer)
    POST   /api/study/<study>/participants/<id>/trials/answer {"step", "photo", "choice", "confidence"}: its answer, once
    GET    /admin/studies/<study>                             the summary page (asks for the token)
    POST   /api/admin/studies                                 a study file (YAML or JSON) in the body
    GET    /api/admin/studies                                 the studies and their participant counts
    GET    /api/admin/studies/<study>/events.{json,csv}       every event
    GET    /api/admin/studies/<study>/steps.{json,csv}        one row per participant and step
    GET    /api/admin/studies/<study>/participants.{json,csv} one row per participant: condition, join order
    GET    /api/admin/studies/<study>/trials.{json,csv}       one row per participant and trial (the codebook: docs/study.md)
    GET    /api/admin/studies/<study>/summary.json            before/after agreement, predictions, time
    DELETE /api/admin/studies/<study>                         the study and all its data
    DELETE /api/admin/studies/<study>/participants/<id>       one participant's data (who withdraws)
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hmac
import io
import json
import re
from pathlib import Path

import numpy as np
from PIL import Image

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from web_client import cpu
from web_client import inference as service
from web_client.bodies import json_request
from web_client.limits import DEFAULT_JSON_VALUES, MAX_LOGGED_MASK_BYTES, client_network, parse_json
from web_client.messages import build_request, response_json
from maskscope.channel import photo_sent_again
from maskscope.fills import BY_NAME as FILLS
from maskscope.photos import photo_from_file
from maskscope.v1 import classifier_pb2 as pb
from web_client.study import analysis, dataset
from web_client.study.summary import ModelView, by_condition, deletion_areas, overall, participant_rows
from web_client.study.definition import TRIAL_KINDS, StudyError, check_labels, parse
from web_client.study.limits import WriteLimits
from web_client.study import protocol, trials
from web_client.study.store import Store, StoreError, TooLarge, UnknownParticipant, UnknownStudy, now

bp = Blueprint("study", __name__)


def store() -> Store:
    return current_app.extensions["maskscope.study"]["store"]


def limits() -> WriteLimits:
    return current_app.extensions["maskscope.study"]["limits"]


# What the store gives participants (secrets.token_urlsafe(16)); anything else in a URL is no one,
# refused before it can key a write limit or cost a database read.
PARTICIPANT_ID = re.compile(r"[A-Za-z0-9_-]{16,32}")


@bp.url_value_preprocessor
def known_shape(_endpoint, values):
    participant_id = (values or {}).get("participant_id")
    if participant_id is not None and not PARTICIPANT_ID.fullmatch(participant_id):
        raise UnknownParticipant(f"no participant {participant_id[:40]!r}")


@bp.errorhandler(StoreError)
def refused(exc: StoreError):
    return jsonify({"error": str(exc), "code": type(exc).__name__}), exc.status


@bp.errorhandler(StudyError)
def bad_study(exc: StudyError):
    return jsonify({"error": str(exc), "code": "StudyError"}), 400


def _json_body() -> dict:
    data = json_request("an event")
    if not isinstance(data, dict):
        raise StoreError("the body must be a JSON object")
    return data


def _limited(participant_id: str):
    if not limits().allow(participant_id):
        return jsonify({"error": "too many writes: slow down", "code": "RateLimited"}), 429
    return None


# ---- participants ----

@bp.get("/study/<study_id>")
def page(study_id):
    store().study(study_id)  # an unknown study is a 404 with its message, not an empty page
    return render_template("study.html", study_id=study_id)


@bp.get("/study/<study_id>/photos/<int:number>")
def photo(study_id, number):
    """The study's photo `number` (a sample, or a file the researcher named), for its page."""
    photos = store().study(study_id).photos
    if not 0 <= number < len(photos):
        raise UnknownStudy(f"study {study_id!r} has photos 0 to {len(photos) - 1}")
    data = photo_bytes(photos[number])
    kind = Image.open(io.BytesIO(data)).format or "JPEG"
    return Response(data, mimetype=f"image/{kind.lower()}", headers={"Cache-Control": "private, max-age=3600"})


@bp.post("/api/study/<study_id>/participants")
def join(study_id):
    # Each id gets its own write limit, so joining itself is limited by address (an IPv6 /64 as
    # one): new ids are not a way around the limit.
    limited = _limited(f"join:{client_network(request.remote_addr)}")
    if limited:
        return limited
    participant = store().new_participant(study_id)
    return jsonify({"participant": participant.id, "step": participant.step}), 201


def participants_view(study, condition) -> dict:
    """The study as one participant's page sees it: the photos by number (the researcher's file
    paths stay on the server), and only the steps their condition goes through, each with its
    `index` in the study's whole list (what events name it by) and what it allows resolved
    (`map`, `paint`); other conditions, the assignment and its seed are not theirs to see."""
    whole = json.loads(study.to_json())
    steps = [{**{k: (len(v) if k == "photos" else v) for k, v in whole["steps"][i].items() if k != "only"}, "index": i,
              "map": protocol.shows_map(study.steps[i], condition), "paint": protocol.paints(study.steps[i], condition)}
             for i in protocol.visible_steps(study, condition)]
    # The true classes and the control are the researcher's: a participant who saw them could score the trials.
    shown = {k: v for k, v in whole.items() if k not in ("conditions", "assignment", "labels", "control")}
    return {**shown, "photos": len(study.photos), "steps": steps, "step_count": len(study.steps)}


@bp.get("/api/study/<study_id>/participants/<participant_id>")
def where(study_id, participant_id):
    """`step` and every event's step: the number in the study's whole list; `study.steps`: the
    ones this participant goes through (the step after the last is `study.step_count`: finish)."""
    p = store().participant(participant_id, study_id)
    study = store().study(study_id)
    condition = study.condition(p.condition)
    return jsonify({"participant": p.id, "step": p.step, "consented": p.consented_at is not None,
                    "finished": p.finished_at is not None, "study": participants_view(study, condition),
                    "condition": {"name": condition.name, "paint": condition.paint, "map": condition.map},
                    "photo": store().photos_answered(p.id, study_id, p.step)})


@bp.post("/api/study/<study_id>/participants/<participant_id>/events")
def record(study_id, participant_id):
    limited = _limited(participant_id)
    if limited:
        return limited
    body = _json_body()
    kind, step, payload = body.get("kind"), body.get("step", 0), body.get("payload", {})
    if not isinstance(kind, str) or not isinstance(step, int) or isinstance(step, bool) or not isinstance(payload, dict):
        raise StoreError('an event is {"kind": a string, "step": a whole number, "payload": an object}')
    if kind == "classify":
        raise StoreError("classifications are logged by the service itself: POST them to .../classify")
    if kind in protocol.TRIAL_EVENTS:
        raise StoreError("trials are shown and scored by the service itself: POST them to .../trials")
    event = store().record(participant_id, study_id, kind, step, payload)
    return jsonify({"event": event, "step": store().participant(participant_id, study_id).step}), 201


@bp.post("/api/study/<study_id>/participants/<participant_id>/classify")
def classify(study_id, participant_id):
    """Classifies as /api/classify does and logs it (mask, answer, timings) as this participant's."""
    limited = _limited(participant_id)
    if limited:
        return limited
    step = request.form.get("step", "")
    if not step.isdigit():
        raise StoreError("`step` (the step this classification belongs to) is a whole number")
    image, mask = request.files.get("image"), request.files.get("mask")
    mask_bytes = mask.read() if mask else b""
    if len(mask_bytes) > MAX_LOGGED_MASK_BYTES:
        raise TooLarge(f"the mask is {len(mask_bytes)} bytes; a study logs masks of at most {MAX_LOGGED_MASK_BYTES}")
    # Refused before the service does any work, by the rule the store applies when it logs it
    # (a painted photo where the participant's condition does not paint, too).
    protocol.changes(store().participant(participant_id, study_id), store().study(study_id), "classify", int(step),
                     now(), masked=bool(mask_bytes))
    classify_request = build_request(request.form, image.read() if image else None, mask_bytes or None)
    response = service.classify(classify_request)
    answer = response_json(response)
    store().record(participant_id, study_id, "classify", int(step), {
        "mask": base64.b64encode(mask_bytes).decode(), "image_id": response.image_id, "model": response.model,
        "fill": request.form.get("fill", ""), "predictions": answer["predictions"][:5], "tracked": answer["tracked"],
        "timings": answer["timings"]})
    return jsonify(answer)


# ---- simulation trials ----

def model_labels(model: str) -> list[str]:
    """The class names of `model` ("": the service's default), as the service lists them."""
    listed = service.list_models()
    name = model or listed.default_model
    for info in listed.models:
        if info.name == name:
            return list(info.labels)
    raise StudyError(f"the study: the service has no model {name!r}")


def _trial_request(study_id: str, participant_id: str, with_answer: bool = False):
    """The participant, the study, the trial step and its photo (name and number) a trial request
    names, each checked."""
    body = _json_body()
    step, number = body.get("step"), body.get("photo")
    study = store().study(study_id)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (step, number)) \
            or not 0 <= step < len(study.steps) or study.steps[step].kind not in TRIAL_KINDS:
        raise StoreError("a trial is {\"step\": a forward or counterfactual step's number, \"photo\": its photo's number}")
    here = study.steps[step]
    if not 0 <= number < len(here.photos):
        raise StoreError(f"step {step} has photos 0 to {len(here.photos) - 1}")
    return body, study, step, here, number, here.photos[number]


def _classify_photo(study, photo: str, mask: bytes = b"", top_k: int = 1) -> pb.ClassifyResponse:
    return service.classify(pb.ClassifyRequest(image=photo_bytes(photo), model=study.model, top_k=top_k,
                                               mask=mask, fill=FILLS[study.fill]))


def flip_search(study, photo: str) -> pb.SearchResult:
    """The smallest region the model's search found to change its answer for the photo (once per
    process: a search is hundreds of classifications)."""
    cache = current_app.extensions["maskscope.study"].setdefault("searches", {})
    key = (photo, study.model, study.fill)
    if key not in cache:
        *_, last = service.search(pb.SearchRequest(image=photo_bytes(photo), model=study.model,
                                                   goal=pb.SEARCH_GOAL_FLIP, fill=FILLS[study.fill]))
        cache[key] = last.result
    return cache[key]


def _hidden_box(png: bytes):
    with Image.open(io.BytesIO(png)) as image:
        return image.convert("L").getbbox()


def _rectangle_png(width: int, height: int, box) -> bytes:
    mask = Image.new("1", (width, height), 0)
    mask.paste(1, box)
    out = io.BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()


def _shown_image(photo: str, mask: bytes = b"") -> str:
    """The photo as the participant sees it in a trial, as a data URL: a counterfactual's region
    hidden in flat gray (what the page shows; the model sees the study's fill)."""
    data = photo_bytes(photo)
    if not mask:
        kind = (Image.open(io.BytesIO(data)).format or "JPEG").lower()
        return f"data:image/{kind};base64," + base64.b64encode(data).decode()
    from maskscope.photos import painted_plane, upright_rgb
    image = upright_rgb(photo_from_file(data))
    with Image.open(io.BytesIO(mask)) as m:
        image.paste((128, 128, 128), mask=painted_plane(m))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def _trial_start_payload(study, participant, here, number: int, photo: str) -> dict:
    """What a trial shows and what the model says (kept server-side, in the trial-start event)."""
    true_label = study.labels.get(photo)
    whole = _classify_photo(study, photo, top_k=trials.CANDIDATES)
    top = [p.label for p in whole.predictions]
    payload = {"photo": photo, "kind": here.kind, "phase": here.phase, "model_label": top[0],
               "true_label": true_label, "model_correct": None if true_label is None else top[0] == true_label}
    if here.kind == "forward":
        return {**payload, "candidates": trials.candidates(top, true_label, participant.id, photo)}
    found = flip_search(study, photo)
    if trials.hides_search_region(number, participant.number) and found.found:
        mask, hidden_by = found.hidden, "search"
    else:  # a rectangle of the search's area away from its region (a tenth of the photo without one)
        box = _hidden_box(found.hidden) if found.found else None
        rectangle = trials.rectangle_away(whole.image_width, whole.image_height, found.area if found.found else 0.1,
                                          box)
        mask, hidden_by = _rectangle_png(whole.image_width, whole.image_height, rectangle), "rectangle"
    hidden = _classify_photo(study, photo, mask=mask)
    still = hidden.predictions[0].label == top[0]
    return {**payload, "candidates": list(trials.ANSWERS), "hidden_by": hidden_by,
            "hidden_label": hidden.predictions[0].label, "truth": "yes" if still else "no",
            "mask": base64.b64encode(mask).decode()}


@bp.post("/api/study/<study_id>/participants/<participant_id>/trials")
def trial(study_id, participant_id):
    """Shows a trial: the photo (a counterfactual's with its region hidden) and the choices, never
    the model's answer. Shown again (a reload), it is the same trial, timed from its first showing."""
    limited = _limited(participant_id)
    if limited:
        return limited
    _, study, step, here, number, photo = _trial_request(study_id, participant_id)
    participant = store().participant(participant_id, study_id)
    protocol.changes(participant, study, "trial-start", step, now(), photo)  # refused before any work
    start = store().trial_start(participant_id, study_id, step, photo)
    payload = start["payload"] if start else _trial_start_payload(study, participant, here, number, photo)
    if not start:
        store().record(participant_id, study_id, "trial-start", step, payload)
    shown = {"step": step, "photo": number, "kind": here.kind, "choices": payload["candidates"],
             "image": _shown_image(photo, base64.b64decode(payload.get("mask", "")))}
    if here.kind == "counterfactual":
        shown["label"] = payload["model_label"]  # the question: will the model still say it?
    return jsonify(shown)


def _utc(at):
    return at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)


@bp.post("/api/study/<study_id>/participants/<participant_id>/trials/answer")
def trial_answer(study_id, participant_id):
    """A trial's answer, once: scored against the model's answer kept when it was shown, and timed
    from then (server clock)."""
    limited = _limited(participant_id)
    if limited:
        return limited
    body, study, step, here, number, photo = _trial_request(study_id, participant_id)
    start = store().trial_start(participant_id, study_id, step, photo)
    if start is None:
        raise StoreError("this trial has not been shown: POST .../trials first")
    shown = start["payload"]
    wrong = trials.check_answer(here.kind, body.get("choice"), body.get("confidence"), shown["candidates"])
    if wrong:
        raise StoreError(wrong)
    truth = shown["model_label"] if here.kind == "forward" else shown["truth"]
    ms = round((now() - _utc(start["at"])).total_seconds() * 1000)
    payload = {"photo": photo, "kind": here.kind, "phase": here.phase, "candidates": shown["candidates"],
               "choice": body["choice"], "confidence": body["confidence"], "model_label": shown["model_label"],
               "correct": trials.score(here.kind, body["choice"], truth), "model_correct": shown["model_correct"],
               "true_label": shown["true_label"], "ms": ms}
    if here.kind == "counterfactual":
        payload.update(hidden_by=shown["hidden_by"], hidden_label=shown["hidden_label"])
    event = store().record(participant_id, study_id, "trial", step, payload)
    return jsonify({"event": event}), 201


# ---- the researcher's side ----

@bp.get("/admin/studies/<study_id>")
def summary_page(study_id):
    """The summary page; its figures come from summary.json, with the token the researcher types."""
    store().study(study_id)
    return render_template("study_admin.html", study_id=study_id)


def _admin():
    token = current_app.config.get("ADMIN_TOKEN", "")
    if not token:
        return jsonify({"error": "the admin API is off: set MASKSCOPE_ADMIN_TOKEN", "code": "AdminDisabled"}), 503
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        return jsonify({"error": "a wrong or missing admin token (Authorization: Bearer ...)",
                        "code": "Unauthorized"}), 401
    return None


@bp.before_request
def admin_only():
    if request.path.startswith("/api/admin/"):
        return _admin()
    return None


@bp.post("/api/admin/studies")
def add_study():
    body = request.get_data()
    try:
        data = parse_json(body, DEFAULT_JSON_VALUES)
    except ValueError:
        data = cpu.run(_yaml, body.decode("utf-8", "replace"))  # PyYAML is pure Python: seconds for a large file
    study = parse(data, "the study")
    for photo in study.photos + tuple(p for step in study.steps for p in step.photos):
        photo_bytes(photo)  # a missing photo is found now, not by a participant midway
    if study.labels:
        check_labels(study, model_labels(study.model))
    store().put_study(study)
    return jsonify({"study": study.id, "link": f"/study/{study.id}"}), 201


@bp.get("/api/admin/studies")
def list_studies():
    return jsonify([{"study": sid, "participants": len(store().participants(sid))} for sid in store().study_ids()])


@bp.get("/api/admin/studies/<study_id>/<table>.<fmt>")
def export(study_id, table, fmt):
    """Streamed as it is read from the database: a study of any size is exported in bounded memory."""
    if table not in dataset.TABLES or fmt not in ("json", "csv"):
        return jsonify({"error": "exports are events, steps, participants and trials, each .json or .csv",
                        "code": "NotFound"}), 404
    study = store().study(study_id)
    rows, columns = dataset.table(study, dataset.source(store(), study_id, table), table)
    if fmt == "json":
        return Response(dataset.json_lines(rows), mimetype="application/json")
    return Response(dataset.csv_lines(rows, columns), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{study_id}-{table}.csv"'})


def _yaml(text: str):
    """A study file in YAML; anchors and aliases are refused (a few lines of them can stand for
    millions of nodes)."""
    import yaml

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                raise yaml.YAMLError("aliases (*name) are not taken in a study file")
            return super().compose_node(parent, index)

    try:
        return yaml.load(text, Loader=NoAliases)  # noqa: S506 (a SafeLoader)
    except (yaml.YAMLError, RecursionError) as exc:
        raise StudyError(f"the body is neither JSON nor YAML: {exc}") from None


def photo_bytes(photo: str) -> bytes:
    """A study's photo: a sample's name, else a path to an image file."""
    sample = current_app.config["SAMPLES_DIR"] / f"{photo}.jpg"
    path = sample if sample.exists() else Path(photo)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StoreError(f"photo {photo!r}: neither a sample nor a readable file ({exc.strerror})") from None


@functools.lru_cache(maxsize=256)
def _photo_size(samples_dir: Path, photo: str) -> tuple[int, int]:
    return photo_from_file(photo_bytes(photo)).size  # samples_dir: the key (photo_bytes reads it from the app)


def photo_size(photo: str) -> tuple[int, int]:
    """A study photo's width and height as the service sees it (upright): its maps' size."""
    return _photo_size(current_app.config["SAMPLES_DIR"], photo)


def model_view(study, photo: str) -> ModelView:
    """The model's top class and occlusion map of one of the study's photos (once per process)."""
    cache = current_app.extensions["maskscope.study"].setdefault("views", {})
    key = (photo, study.model, study.fill)
    if key not in cache:
        *_, last = service.explain(pb.ExplainRequest(image=photo_bytes(photo), model=study.model, fill=FILLS[study.fill]))
        m = last.map
        cache[key] = ModelView(m.label, np.asarray(m.drop, np.float32).reshape(m.rows, m.cols),
                               (m.crop_left, m.crop_top, m.crop_right, m.crop_bottom))
    return cache[key]


class DeletionAreas:
    """The deletion areas of one summary's maps (web_client/faithfulness.py): each photo is sent
    once and then named by its id (sent again only if the service has since evicted it), and its
    random baseline is measured once, with its first map."""

    def __init__(self, study):
        self.study = study
        self.random: dict[str, float] = {}
        self._sized: dict[str, pb.ClassifyResponse] = {}

    def _upload(self, photo: str) -> pb.ClassifyResponse:
        """The photo's id and size, and the model's class for it."""
        self._sized[photo] = service.classify(pb.ClassifyRequest(image=photo_bytes(photo), model=self.study.model, top_k=1))
        return self._sized[photo]

    def _by_id(self, photo: str, request: pb.ClassifyRequest) -> pb.ClassifyResponse:
        return photo_sent_again(service.classify, request, photo_bytes(photo))

    def __call__(self, photo: str, values: np.ndarray, crop) -> float:
        from web_client.faithfulness import curves
        sized = self._sized.get(photo) or self._upload(photo)
        base = pb.ClassifyRequest(image_id=sized.image_id, model=self.study.model, fill=FILLS[self.study.fill])
        shape = {"rows": values.shape[0], "cols": values.shape[1], "drop": values.ravel().tolist(),
                 "crop": dict(zip(("left", "top", "right", "bottom"), crop))}
        result = curves(lambda r: self._by_id(photo, r), base, sized.image_width, sized.image_height, {"map": shape},
                        sized.predictions[0].class_index, baseline=photo not in self.random)
        if "random" in result:
            self.random[photo] = result["random"]["deletion-most"]["auc"]
        return result["map"]["deletion-most"]["auc"]


@bp.get("/api/admin/studies/<study_id>/summary.json")
def summary(study_id):
    """?faithfulness=1 adds the deletion areas of every participant's maps and of the model's
    (a dozen classifications a map: asked for, not computed on every view)."""
    study = store().study(study_id)
    views = {photo: model_view(study, photo) for photo in study.photos}
    rows = participant_rows(study, store().events(study_id), views)
    body = {"study": study_id, "overall": overall(rows), "participants": rows,
            "model": {photo: {"label": v.label} for photo, v in views.items()},
            # Each condition's figures, and what its participants were assigned by: with the seed,
            # assignment.condition_for gives every join's condition again.
            "conditions": by_condition(study, rows),
            "assignment": {"conditions": [c.name for c in study.conditions_or_all], "block": study.block_size,
                           "seed": store().seed(study_id)},
            # The simulation trials' figures (analysis.py): by condition and phase, split by whether
            # the model was right, each condition's utility against the study's control.
            "simulation": {**analysis.report(dataset.analysis_rows(dataset.trial_rows(store().events(study_id))),
                                             study.control or None), "control": study.control or None,
                           "bootstrap": {"resamples": analysis.BOOTSTRAP_RESAMPLES, "seed": analysis.BOOTSTRAP_SEED,
                                         "level": analysis.LEVEL, "over": "participants"}}}
    if request.args.get("faithfulness") in ("1", "true"):
        measure = DeletionAreas(study)
        areas = deletion_areas(study, store().events(study_id), views, measure)
        for row in rows:
            row.update(areas["participants"].get(row["participant_id"], {"before_deletion_area": None,
                                                                          "after_deletion_area": None}))
        for photo, area in areas["model"].items():
            body["model"][photo].update(deletion_area=area, random_deletion_area=measure.random[photo])
        body["fill"] = study.fill
    return jsonify(body)


@bp.delete("/api/admin/studies/<study_id>")
def delete(study_id):
    return jsonify({"study": study_id, "deleted_events": store().delete_study(study_id)})


@bp.delete("/api/admin/studies/<study_id>/participants/<participant_id>")
def withdraw(study_id, participant_id):
    return jsonify({"participant": participant_id,
                    "deleted_events": store().delete_participant(participant_id, study_id)})
