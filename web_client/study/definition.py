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
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from maskscope.fills import BY_NAME as FILLS

KINDS = ("before", "explore", "after", "question")
TASKS = ("paint", "predict")
SCALES = ("likert5", "likert7", "text")
ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_STEPS, MAX_PHOTOS, MAX_TEXT = 50, 50, 10_000


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

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "title": self.title, "consent": self.consent, "photos": list(self.photos),
                           "model": self.model, "fill": self.fill,
                           "steps": [{k: v for k, v in vars(s).items() if v not in ("", 0, 0.0, False) or k == "kind"}
                                     for s in self.steps]}, indent=2)


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
    allowed = {"before": {"kind", "task"}, "after": {"kind", "task"}, "explore": {"kind", "map", "minutes"},
               "question": {"kind", "id", "text", "scale"}}[kind]
    unknown = set(raw) - allowed
    if unknown:
        raise StudyError(f"{where} ({kind}): unknown field(s) {', '.join(sorted(unknown))}; "
                         f"a {kind} step takes {', '.join(sorted(allowed))}")
    if kind in ("before", "after"):
        task = raw.get("task", "paint")
        if task not in TASKS:
            raise StudyError(f"{where} ({kind}): task {task!r}; use one of {', '.join(TASKS)}")
        return Step(kind, task=task)
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
    unknown = set(data) - {"id", "title", "consent", "photos", "steps", "fill", "model"}
    if unknown:
        raise StudyError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return Study(id=study_id, title=_text(data, "title", where, limit=200), consent=_text(data, "consent", where),
                 photos=tuple(photos), steps=parsed, model=model, fill=fill)


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
