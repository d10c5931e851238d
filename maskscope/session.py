"""A painting session as a file: the photo, each step's mask and what the model said.

The page exports it (JSON); `python -m inference_service.client replay` sends it again to any
model; `render_html` makes the self-contained report (original, then each interaction: the photo
with what was hidden shown gray, its top class and confidence), `html_parts` the same a step at a
time (the web app streams it). Reading a session checks what rendering it would cost: its number
of steps and its masks' pixels, each mask the photo's size, from the files' headers alone.
"""

from __future__ import annotations

import base64
import binascii
import html
import io
import json
from dataclasses import dataclass, field

from PIL import Image, ImageOps

from maskscope.fills import COLOURS
from maskscope.fills import NAMES as FILL_NAMES
from maskscope.limits import MAX_IMAGE_PIXELS
from maskscope.photos import PhotoError, painted_plane, photo_from_file

FORMAT = "maskscope-session"
VERSION = 1
GRAY = COLOURS["gray"]  # how the report shows hidden pixels
REPORT_WIDTH_PX = 320


class SessionError(ValueError):
    """The session file is not one Maskscope can read; the message says why."""


@dataclass
class Step:
    title: str
    mask: bytes                      # PNG; empty: nothing painted
    predictions: list[dict]          # [{class_index, label, probability}], highest first
    tracked: list[dict] = field(default_factory=list)
    # How this step was classified (a session can change them midway); empty: the session's.
    model: str = ""
    fill: str = ""
    keep_painted: bool | None = None


@dataclass
class Session:
    image: bytes
    image_name: str
    model: str
    fill: str
    keep_painted: bool
    steps: list[Step]
    pinned: list[int] = field(default_factory=list)

    def __post_init__(self):
        for step in self.steps:  # a step that does not say is as the session
            step.model = step.model or self.model
            step.fill = step.fill or self.fill
            step.keep_painted = self.keep_painted if step.keep_painted is None else step.keep_painted

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT, "version": VERSION, "model": self.model, "fill": self.fill,
            "keep_painted": self.keep_painted, "pinned": self.pinned,
            "image": {"name": self.image_name, "data": base64.b64encode(self.image).decode()},
            "steps": [{"title": s.title, "mask": base64.b64encode(s.mask).decode(), "predictions": s.predictions,
                       "tracked": s.tracked, "model": s.model, "fill": s.fill, "keep_painted": s.keep_painted}
                      for s in self.steps],
        }, indent=1) + "\n"


def _b64(value, what: str) -> bytes:
    if not isinstance(value, str):
        raise SessionError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value.split(",", 1)[1] if value.startswith("data:") else value, validate=True)
    except (binascii.Error, ValueError):
        raise SessionError(f"{what} is not valid base64") from None


def _predictions(value, what: str) -> list[dict]:
    if not isinstance(value, list):
        raise SessionError(f"{what} must be a list")
    out = []
    for p in value:
        try:
            out.append({"class_index": int(p["class_index"]), "label": str(p["label"]),
                        "probability": float(p["probability"])})
        except (KeyError, TypeError, ValueError):
            raise SessionError(f"{what} holds an entry without class_index, label and probability") from None
    return out


def parse(data, *, max_steps: int | None = None, max_mask_pixels: int | None = None) -> Session:
    """Reads a session file (its text, or its JSON already parsed); SessionError says what is
    wrong with a bad one, or which limit it passes (`max_steps`; `max_mask_pixels`, all its
    masks together)."""
    if isinstance(data, (str, bytes, bytearray)):
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SessionError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionError(f"not a Maskscope session (its \"format\" must be {FORMAT!r})")
    if data.get("version") != VERSION:
        raise SessionError(f"session version {data.get('version')!r}; this Maskscope reads version {VERSION}")
    fill = data.get("fill", "gray")
    if not isinstance(fill, str) or fill not in FILL_NAMES:
        raise SessionError(f"unknown fill {fill!r}; one of {', '.join(FILL_NAMES)}")
    image = data.get("image")
    if not isinstance(image, dict):
        raise SessionError("the session has no image")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise SessionError("the session has no steps")
    if max_steps is not None and len(steps) > max_steps:
        raise SessionError(f"the session has {len(steps):,} steps; a report takes at most {max_steps:,}")
    parsed = []
    for i, s in enumerate(steps):
        if not isinstance(s, dict):
            raise SessionError(f"step {i} is not an object")
        step_fill = s.get("fill") or fill
        if not isinstance(step_fill, str) or step_fill not in FILL_NAMES:
            raise SessionError(f"step {i}: unknown fill {step_fill!r}; one of {', '.join(FILL_NAMES)}")
        parsed.append(Step(title=str(s.get("title", f"step {i}")), mask=_b64(s.get("mask", ""), f"step {i}'s mask"),
                           predictions=_predictions(s.get("predictions", []), f"step {i}'s predictions"),
                           tracked=_predictions(s.get("tracked", []), f"step {i}'s tracked"),
                           model=str(s.get("model") or data.get("model", "")), fill=step_fill,
                           keep_painted=bool(s.get("keep_painted", data.get("keep_painted")))))
    pinned = data.get("pinned") or []
    if not isinstance(pinned, list) or not all(isinstance(i, int) for i in pinned):
        raise SessionError("pinned must be a list of class indices")
    session = Session(image=_b64(image.get("data"), "the image"), image_name=str(image.get("name", "photo")),
                      model=str(data.get("model", "")), fill=fill, keep_painted=bool(data.get("keep_painted")),
                      steps=parsed, pinned=pinned)
    _check_masks(session, max_mask_pixels)
    return session


def _check_masks(session: Session, max_mask_pixels: int | None) -> None:
    """Each mask a PNG of the photo's own size (as the service takes it), and all of them together
    within `max_mask_pixels`: read from the headers, before a pixel is decoded."""
    try:
        size = photo_from_file(session.image).size
    except PhotoError as exc:
        raise SessionError(f"the session's image cannot be read ({exc})") from None
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise SessionError(f"the session's image is {size[0]}x{size[1]}; reports take at most "
                           f"{MAX_IMAGE_PIXELS:,} pixels")
    masks = [(i, step.mask) for i, step in enumerate(session.steps) if step.mask]
    if max_mask_pixels is not None and len(masks) * size[0] * size[1] > max_mask_pixels:
        raise SessionError(f"its {len(masks)} masks of {size[0]}x{size[1]} hold {len(masks) * size[0] * size[1]:,} "
                           f"pixels; a report takes at most {max_mask_pixels:,}")
    for i, mask in masks:
        try:
            with Image.open(io.BytesIO(mask)) as header:
                kind, mask_size = header.format, header.size
        except Exception:
            raise SessionError(f"step {i}'s mask cannot be read as a PNG") from None
        if kind != "PNG" or mask_size != size:
            raise SessionError(f"step {i}'s mask is a {kind} of {mask_size[0]}x{mask_size[1]}; a mask is a PNG of "
                               f"the photo's size, {size[0]}x{size[1]}")


def open_photo(image: bytes, width: int = REPORT_WIDTH_PX) -> Image.Image:
    """The session's photo, upright and shrunk to `width` (its size checked before decoding, and
    shrunk before it is turned or converted: one full-size copy at most)."""
    try:
        photo = Image.open(io.BytesIO(image))
        if photo.width * photo.height > MAX_IMAGE_PIXELS:
            raise SessionError(f"the session's image is {photo.width}x{photo.height}; "
                               f"reports take at most {MAX_IMAGE_PIXELS:,} pixels")
        photo.draft("RGB", (width, width * 4))  # JPEGs decode straight at a fraction of their size
        photo.thumbnail((width, width * 4))  # EXIF stays with it: turned upright below, small
        photo = ImageOps.exif_transpose(photo).convert("RGB")
    except SessionError:
        raise
    except Exception as exc:
        raise SessionError(f"the session's image cannot be read ({exc})") from None
    photo.thumbnail((width, width * 4))  # a quarter turn may have made it too wide
    return photo


def hide(photo: Image.Image, mask: bytes, keep_painted: bool) -> Image.Image:
    """`photo` with what the model did not see (painted, or with keep_painted the rest) in gray."""
    if not mask and not keep_painted:
        return photo
    if mask:
        try:
            with Image.open(io.BytesIO(mask)) as m:
                plane = painted_plane(m).resize(photo.size)
            hidden = plane.point(lambda v: 0 if (v > 0) == keep_painted else 255)
        except Exception as exc:
            raise SessionError(f"a mask cannot be read ({exc})") from None
    else:  # keep only what is painted, and nothing is: all of it hidden
        hidden = Image.new("L", photo.size, 255)
    return Image.composite(Image.new("RGB", photo.size, GRAY), photo, hidden)


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _preview(photo: Image.Image, step: Step) -> str:
    """A step's picture for the report, as base64 JPEG; empty when its mask cannot be read."""
    try:
        return base64.b64encode(jpeg(hide(photo, step.mask, step.keep_painted))).decode()
    except SessionError:
        return ""


def _in_place(fn, *args):
    return fn(*args)


def render_html(session: Session) -> str:
    """The report: one self-contained HTML file (images inlined), a row per step."""
    return "".join(html_parts(session))


def html_parts(session: Session, run=_in_place):
    """The report in pieces, a step's row at a time (its picture made when it is wanted).
    `run(fn, *args)` runs the image work (the web app: off its event loop). The photo is decoded
    here, at once, so that a photo that cannot be read is an error before any part is sent."""
    photo = run(open_photo, session.image)  # decoded once for every step
    return _parts(session, photo, run)


def _parts(session: Session, photo: Image.Image, run):
    e = html.escape
    pinned = {i for i in session.pinned}
    how = "kept only the painted area" if session.keep_painted else "hid the painted area"
    yield f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Maskscope session: {e(session.image_name)}</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2rem; color: #1d2430; }}
table {{ border-collapse: collapse; }} td, th {{ border-bottom: 1px solid #d8dde6; padding: .6rem; text-align: left;
vertical-align: top; }} img {{ max-width: {REPORT_WIDTH_PX}px; display: block; }} small {{ color: #5b6577; }}
</style></head><body>
<h1>Maskscope session</h1>
<p>Photo <b>{e(session.image_name)}</b>, model <b>{e(session.model or 'the default')}</b>; each interaction
{how} with the <b>{e(session.fill)}</b> fill (shown gray here). {len(session.steps)} steps.</p>
<table><thead><tr><th>Step</th><th>What the model saw</th><th>Top class and confidence (then the next four)</th>
<th>Pinned classes</th></tr></thead>
<tbody>
"""
    for i, step in enumerate(session.steps):
        preview = run(_preview, photo, step)
        top = step.predictions[0] if step.predictions else None
        name = "Original" if i == 0 and not step.mask else f"Interaction {i}"
        top_text = f"{e(top['label'])} <b>{top['probability'] * 100:.1f}%</b>" if top else "(no answer)"
        others = ", ".join(f"{e(p['label'])} {p['probability'] * 100:.1f}%" for p in step.predictions[1:5])
        tracked = ", ".join(f"{e(p['label'])} {p['probability'] * 100:.1f}%" for p in step.tracked
                            if p["class_index"] in pinned)
        changed = [text for text, differs in ((step.model, step.model and step.model != session.model),
                                              (f"{step.fill} fill", step.fill and step.fill != session.fill)) if differs]
        title = step.title + (f" ({', '.join(changed)})" if changed else "")
        picture = (f"<img alt=\"{e(name)}\" src=\"data:image/jpeg;base64,{preview}\">" if preview
                   else "<small>(this step's mask cannot be read)</small>")
        yield (f"<tr><td class=step>{e(name)}<br><small>{e(title)}</small></td><td>{picture}</td>"
               f"<td class=top>{top_text}<br><small>{others}</small></td><td>{tracked or '&mdash;'}</td></tr>\n")
    yield """</tbody></table>
<p><small>Replay it against any model: <code>python -m inference_service.client replay SESSION.json --model NAME</code>
</small></p>
</body></html>
"""
