"""A study as its researcher writes it (a YAML or JSON file): checked whole on loading, so a
participant never meets a broken step.

    id: does-painting-teach
    title: What does the classifier look at?
    consent: |
      You will paint over photos ... Your answers are stored without your name.
    model: efficientnet-lite0      # optional: the service's default
    fill: gray                      # optional
    photos: [coffee, chelsea]       # sample names (web_client/samples.py) or paths to image files
    steps:
      - {kind: before, task: paint}           # paint what you think the model needs
      - {kind: before, task: predict}         # pick the class you expect it to say
      - {kind: explore, map: false, minutes: 3}
      - {kind: after, task: paint}
      - {kind: question, id: clarity, text: The model's answers made sense to me, scale: likert5}
      - {kind: question, id: notes, text: Anything else?, scale: text}

Conditions (optional: without them a study is one condition, `all`, and each explore step's own
`map` says whether the model's map is shown):

    conditions:
      - {name: paint}                       # paint, with the model's answers (paint: true is the default)
      - {name: paint+map, map: true}        # and the model's occlusion map
      - {name: map, paint: false, map: true}
      - {name: none, paint: false}          # the photos and the model's answer only
    assignment: {block: 8, seed: 20261207}  # optional: permuted blocks (assignment.py)
    steps:
      - {kind: question, id: painted-before, text: ..., only: [paint, paint+map]}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from maskscope.fills import BY_NAME as FILLS

KINDS = ("before", "explore", "after", "question", "forward", "counterfactual")
TRIAL_KINDS = ("forward", "counterfactual")  # simulation trials: web_client/study/trials.py
PHASES = ("pre", "post")
TASKS = ("paint", "predict")
SCALES = ("likert5", "likert7", "text")
ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
CONDITION = re.compile(r"^[a-z0-9][a-z0-9+-]{0,31}$")  # in every export row: short, and safe in a CSV cell
MAX_STEPS, MAX_PHOTOS, MAX_TEXT, MAX_CONDITIONS, MAX_BLOCK = 50, 50, 10_000, 8, 64
MAX_SEED = 2 ** 53 - 1  # exact in every JSON reader (JavaScript's, jq's numbers are doubles)
IMPLICIT = "all"  # the one condition of a study that names none


class StudyError(ValueError):
    """The study file is wrong; the message says where and how."""


@dataclass(frozen=True)
class Step:
    kind: str
    task: str = ""        # before / after: paint or predict
    map: bool = False     # explore: the occlusion map on or off
    minutes: float = 0.0  # explore: a suggested time (0: as long as they like)
    id: str = ""          # question: the answer's key in the dataset
    text: str = ""        # question: what is asked
    scale: str = ""       # question: likert5, likert7 or text
    only: tuple[str, ...] = ()  # the conditions that see this step (none: all of them)
    phase: str = ""       # forward / counterfactual: pre or post (the analysis compares them)
    photos: tuple[str, ...] = ()  # forward / counterfactual: the held-out photos of its trials


@dataclass(frozen=True)
class Condition:
    """What one group of participants sees in the explore steps: painting with the model's
    answers, and the model's occlusion map. `map` None (the implicit condition of a study without
    conditions): each explore step's own `map` flag."""

    name: str
    paint: bool = True
    map: bool | None = False


@dataclass(frozen=True)
class Study:
    id: str
    title: str
    consent: str
    photos: tuple[str, ...]
    steps: tuple[Step, ...]
    model: str = ""
    fill: str = "gray"
    extra: dict = field(default_factory=dict)
    conditions: tuple[Condition, ...] = ()  # none: one implicit condition (`conditions_or_all`)
    block: int = 0                          # assignment's block size (0: one of each condition)
    seed: int | None = None                 # assignment's seed (None: the store draws one)
    labels: dict = field(default_factory=dict)  # photo -> its true class (the model's label), where known
    control: str = ""                       # the condition utility is measured against ("": none)

    @property
    def conditions_or_all(self) -> tuple[Condition, ...]:
        return self.conditions or (Condition(IMPLICIT, paint=True, map=None),)

    @property
    def block_size(self) -> int:
        return self.block or len(self.conditions_or_all)

    def condition(self, name: str | None) -> Condition:
        """A condition by name; None (a participant stored before conditions existed) is `all`."""
        name = name or IMPLICIT
        for condition in self.conditions_or_all:
            if condition.name == name:
                return condition
        raise StudyError(f"study {self.id!r} has no condition {name!r}")

    def to_json(self) -> str:
        body = {"id": self.id, "title": self.title, "consent": self.consent, "photos": list(self.photos),
                "model": self.model, "fill": self.fill,
                "steps": [{k: list(v) if k in ("only", "photos") else v for k, v in vars(s).items()
                           if v not in ("", 0, 0.0, False, ()) or k == "kind"} for s in self.steps]}
        # Only when given: a study without conditions keeps the JSON it always had.
        if self.conditions:
            body["conditions"] = [{"name": c.name, "paint": c.paint, "map": c.map} for c in self.conditions]
        assignment = {k: v for k, v in (("block", self.block), ("seed", self.seed)) if v not in (0, None)}
        if assignment:
            body["assignment"] = assignment
        if self.labels:
            body["labels"] = dict(self.labels)
        if self.control:
            body["control"] = self.control
        return json.dumps(body, indent=2)


def _text(data: dict, key: str, where: str, required: bool = True, limit: int = MAX_TEXT) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise StudyError(f"{where}: `{key}` must be {'a non-empty' if required else 'a'} string")
    if len(value) > limit:
        raise StudyError(f"{where}: `{key}` is {len(value)} characters; at most {limit}")
    return value.strip()


def _step(raw, number: int) -> Step:
    where = f"step {number}"
    if not isinstance(raw, dict):
        raise StudyError(f"{where}: each step is a mapping with a `kind`")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise StudyError(f"{where}: kind {kind!r}; use one of {', '.join(KINDS)}")
    only = raw.get("only", [])
    if not isinstance(only, list) or not all(isinstance(name, str) for name in only):
        raise StudyError(f"{where} ({kind}): `only` is a list of condition names")
    step = _step_itself({k: v for k, v in raw.items() if k != "only"}, kind, where)
    return Step(**{**vars(step), "only": tuple(dict.fromkeys(only))})


def _step_itself(raw: dict, kind: str, where: str) -> Step:
    allowed = {"before": {"kind", "task"}, "after": {"kind", "task"}, "explore": {"kind", "map", "minutes"},
               "question": {"kind", "id", "text", "scale"}, "forward": {"kind", "phase", "photos"},
               "counterfactual": {"kind", "phase", "photos"}}[kind]
    unknown = set(raw) - allowed
    if unknown:
        raise StudyError(f"{where} ({kind}): unknown field(s) {', '.join(sorted(unknown))}; "
                         f"a {kind} step takes {', '.join(sorted(allowed | {'only'}))}")
    if kind in ("before", "after"):
        task = raw.get("task", "paint")
        if task not in TASKS:
            raise StudyError(f"{where} ({kind}): task {task!r}; use one of {', '.join(TASKS)}")
        return Step(kind, task=task)
    if kind in TRIAL_KINDS:
        phase, photos = raw.get("phase"), raw.get("photos")
        if phase not in PHASES:
            raise StudyError(f"{where} ({kind}): `phase` is pre or post (before or after the explore steps)")
        if not isinstance(photos, list) or not photos or not all(isinstance(p, str) and p for p in photos):
            raise StudyError(f"{where} ({kind}): `photos` is a non-empty list of sample names or image paths "
                             "(held out: not among the study's own `photos`)")
        if len(photos) > MAX_PHOTOS or len(set(photos)) != len(photos):
            raise StudyError(f"{where} ({kind}): each photo once, at most {MAX_PHOTOS}")
        return Step(kind, phase=phase, photos=tuple(photos))
    if kind == "explore":
        shown, minutes = raw.get("map", False), raw.get("minutes", 0)
        if not isinstance(shown, bool):
            raise StudyError(f"{where} (explore): `map` is true or false")
        if not isinstance(minutes, (int, float)) or isinstance(minutes, bool) or not 0 <= minutes <= 240:
            raise StudyError(f"{where} (explore): `minutes` is a number from 0 to 240")
        return Step(kind, map=shown, minutes=float(minutes))
    question_id = raw.get("id", "")
    if not isinstance(question_id, str) or not ID.match(question_id):
        raise StudyError(f"{where} (question): `id` must be lower-case letters, digits and dashes (it names "
                         "the answer's column)")
    scale = raw.get("scale", "likert5")
    if scale not in SCALES:
        raise StudyError(f"{where} (question): scale {scale!r}; use one of {', '.join(SCALES)}")
    return Step(kind, id=question_id, text=_text(raw, "text", where, limit=1000), scale=scale)


def parse(data, where: str = "the study") -> Study:
    """A Study from parsed YAML/JSON, or StudyError saying what is wrong."""
    if not isinstance(data, dict):
        raise StudyError(f"{where}: a study is a mapping (id, title, consent, photos, steps)")
    study_id = data.get("id")
    if not isinstance(study_id, str) or not ID.match(study_id):
        raise StudyError(f"{where}: `id` must be lower-case letters, digits and dashes, up to 63 (it is in "
                         "the participants' link)")
    photos = data.get("photos")
    if not isinstance(photos, list) or not photos or not all(isinstance(p, str) and p for p in photos):
        raise StudyError(f"{where}: `photos` is a non-empty list of sample names or image paths")
    if len(photos) > MAX_PHOTOS:
        raise StudyError(f"{where}: {len(photos)} photos; at most {MAX_PHOTOS}")
    twice = sorted({p for p in photos if photos.count(p) > 1})
    if twice:  # answers are kept per photo: a photo shown twice would have one answer
        raise StudyError(f"{where}: each photo once; listed more than once: {', '.join(twice)}")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise StudyError(f"{where}: `steps` is a non-empty list")
    if len(steps) > MAX_STEPS:
        raise StudyError(f"{where}: {len(steps)} steps; at most {MAX_STEPS}")
    parsed = tuple(_step(raw, number) for number, raw in enumerate(steps, 1))
    ids = [s.id for s in parsed if s.kind == "question"]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise StudyError(f"{where}: question id(s) {', '.join(repeated)} used twice; each names its own answer")
    fill = data.get("fill", "gray")
    if fill not in FILLS:
        raise StudyError(f"{where}: fill {fill!r}; use one of {', '.join(sorted(FILLS))}")
    model = data.get("model", "")
    if not isinstance(model, str):
        raise StudyError(f"{where}: `model` is a model's name")
    unknown = set(data) - {"id", "title", "consent", "photos", "steps", "fill", "model", "conditions", "assignment",
                           "labels", "control"}
    if unknown:
        raise StudyError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    conditions = _conditions(data.get("conditions"), where)
    _check_conditions_of_steps(parsed, conditions, where)
    block, seed = _assignment(data.get("assignment"), len(conditions), where)
    _check_trials(parsed, photos, where)
    labels = _labels(data.get("labels"), parsed, photos, where)
    control = data.get("control", "")
    names = [c.name for c in conditions] or [IMPLICIT]
    if control and (not isinstance(control, str) or control not in names):
        raise StudyError(f"{where}: `control` names the condition the others are compared with; the conditions "
                         f"are {', '.join(names)}")
    return Study(id=study_id, title=_text(data, "title", where, limit=200), consent=_text(data, "consent", where),
                 photos=tuple(photos), steps=parsed, model=model, fill=fill, conditions=conditions, block=block,
                 seed=seed, labels=labels, control=control)


def _check_trials(steps: tuple[Step, ...], photos: list[str], where: str) -> None:
    """A trial's photo is held out: the explore steps show the model's answers for the study's own
    photos, so a trial on one of them would test memory, not understanding."""
    for number, step in enumerate(steps, 1):
        shown = [p for p in step.photos if p in photos]
        if shown:
            raise StudyError(f"{where}: step {number} ({step.kind}): {', '.join(shown)} is among the study's "
                             "`photos` (whose answers the explore steps show); a trial's photos are held out")


def _labels(raw, steps: tuple[Step, ...], photos: list[str], where: str) -> dict:
    """`labels: {photo: class}`: the true class of any of the study's photos (the model's own label
    names: `check_labels` holds them to the model's when the study is added)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                            for k, v in raw.items()):
        raise StudyError(f"{where}: `labels` maps a photo to its true class, as the model names it")
    known = set(photos) | {p for s in steps for p in s.photos}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise StudyError(f"{where}: `labels` names photo(s) the study does not show: {', '.join(unknown)}")
    return {k: v.strip() for k, v in raw.items()}


def check_labels(study: Study, model_labels) -> None:
    """Every true class is one of the model's labels (else a trial's candidates could never hold
    it as the model names it): StudyError naming the photo and its label."""
    names = set(model_labels)
    wrong = [f"{photo} ({label!r})" for photo, label in study.labels.items() if label not in names]
    if wrong:
        raise StudyError(f"the study: `labels` gives classes the model {study.model or '(the default)'} does not "
                         f"have: {', '.join(wrong)}; use its labels' exact names")


def _conditions(raw, where: str) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise StudyError(f"{where}: `conditions` is a non-empty list of {{name, paint, map}}")
    if len(raw) > MAX_CONDITIONS:
        raise StudyError(f"{where}: {len(raw)} conditions; at most {MAX_CONDITIONS}")
    conditions = []
    for number, item in enumerate(raw, 1):
        here = f"{where}: condition {number}"
        if not isinstance(item, dict):
            raise StudyError(f"{here}: a condition is a mapping {{name, paint, map}}")
        unknown = set(item) - {"name", "paint", "map"}
        if unknown:
            raise StudyError(f"{here}: unknown field(s) {', '.join(sorted(unknown))}; a condition takes name, "
                             "paint and map")
        name = item.get("name")
        if not isinstance(name, str) or not CONDITION.match(name):
            raise StudyError(f"{here}: `name` must be lower-case letters, digits, dashes and +, up to 32 "
                             "(it is in every row of the exports)")
        paint, shown = item.get("paint", True), item.get("map", False)
        if not isinstance(paint, bool) or not isinstance(shown, bool):
            raise StudyError(f"{here} ({name}): `paint` and `map` are true or false")
        conditions.append(Condition(name, paint=paint, map=shown))
    names = [c.name for c in conditions]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise StudyError(f"{where}: condition(s) {', '.join(twice)} named twice; each name is one group")
    return tuple(conditions)


def _check_conditions_of_steps(steps: tuple[Step, ...], conditions: tuple[Condition, ...], where: str) -> None:
    names = [c.name for c in conditions] or [IMPLICIT]
    for number, step in enumerate(steps, 1):
        unknown = [name for name in step.only if name not in names]
        if unknown:
            raise StudyError(f"{where}: step {number} ({step.kind}): `only` names {', '.join(unknown)}; the "
                             f"conditions are {', '.join(names)}")
        # With conditions the condition says it: a step's own flag would be a second answer.
        if conditions and step.kind == "explore" and step.map:
            raise StudyError(f"{where}: step {number} (explore): `map` is each condition's when a study has "
                             "conditions; leave it out of the step")
    for name in names:
        if not any(not step.only or name in step.only for step in steps):
            raise StudyError(f"{where}: condition {name} sees no step (every step's `only` leaves it out)")


def _assignment(raw, conditions: int, where: str) -> tuple[int, int | None]:
    if raw is None:
        return 0, None
    if not isinstance(raw, dict) or set(raw) - {"block", "seed"}:
        raise StudyError(f"{where}: `assignment` is a mapping with `block` and `seed`, both optional")
    block, seed = raw.get("block", 0), raw.get("seed")
    groups = conditions or 1
    if "block" in raw and (not isinstance(block, int) or isinstance(block, bool) or block <= 0
                           or block % groups or block > MAX_BLOCK):
        raise StudyError(f"{where}: assignment's `block` is a multiple of the number of conditions ({groups}) "
                         f"up to {MAX_BLOCK}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED):
        raise StudyError(f"{where}: assignment's `seed` is a whole number from 0 to 2^53 - 1")
    return block, seed


def load(path: Path) -> Study:
    """A study file: YAML (.yaml, .yml) or JSON (.json)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyError(f"{path} does not exist") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml
            data = yaml.safe_load(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise StudyError(f"{path}: a study file is .yaml, .yml or .json")
    except (ValueError, ImportError) as exc:
        if isinstance(exc, StudyError):
            raise
        raise StudyError(f"{path} does not parse: {exc}") from None
    except Exception as exc:  # yaml's own errors carry the line and column
        raise StudyError(f"{path} does not parse: {exc}") from None
    return parse(data, str(path))
