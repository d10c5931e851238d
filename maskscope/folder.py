"""Many photos at once: a search (what flips it, what keeps it) or a mask rule over a folder of
photos, and one HTML report of the lot, sorted by effect (inline in Jupyter, or a file).

    from maskscope import Client
    from maskscope.folder import run_folder
    with Client() as c:
        run = run_folder(c, "photos/", search="flip")     # or rule="outside-centre", rule="region:3"
    run.save("report.html"); run                          # the grid, in a notebook
"""

from __future__ import annotations

import base64
import html
import io
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from maskscope.photos import PhotoError, as_photo, mask_png, upright_rgb
from maskscope.results import tinted

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
RULES = ("outside-centre", "centre", "region:N")
THUMBNAIL_PX = 240  # a card's photo, longest side
MAX_PHOTOS = 10_000  # one run's photos: each row holds its answer and its hidden area as a PNG


@dataclass(frozen=True)
class Row:
    """One photo's outcome. `survived`: the class is still top-1 after the rule (a rule), nothing
    within the budget flipped it (a flip search), or a part of the photo kept it (a keep search)."""

    name: str
    path: Path
    label: str = ""
    probability: float = 0.0          # the class's, before
    after_label: str = ""             # the top class after (the answer applied)
    after_probability: float = 0.0
    class_after: float = 0.0          # the class's probability after
    survived: bool = False
    area: float = 0.0                 # searches: share of the model's crop; rules: share of the photo
    minimal: bool = False
    classifications: int = 0
    hidden_png: bytes = field(default=b"", repr=False)
    error: str = ""

    @property
    def effect(self) -> float:
        """How much the answer moved the class (rules), or how little it took (searches): lower first."""
        return -(self.probability - self.class_after)


@dataclass
class FolderRun:
    """A search or a rule over a folder's photos: `rows` in the folder's order."""

    what: str          # "flip search", "keep search" or "rule outside-centre"
    model: str
    fill: str
    rows: list[Row]
    seconds: float

    @property
    def done(self) -> list[Row]:
        return [r for r in self.rows if not r.error]

    @property
    def survived(self) -> int:
        return sum(r.survived for r in self.done)

    def sorted_rows(self) -> list[Row]:
        """By effect: a search's smallest answers first (none found last); a rule's largest drop first."""
        if self.what.endswith("search"):
            return sorted(self.done, key=lambda r: (not self._answered(r), r.area, r.name)) + self._failed()
        return sorted(self.done, key=lambda r: (r.effect, r.name)) + self._failed()

    def _answered(self, row: Row) -> bool:
        return not row.survived if self.what == "flip search" else row.survived

    def _failed(self) -> list[Row]:
        return [r for r in self.rows if r.error]

    def summary(self) -> str:
        done = self.done
        if not done:
            return f"{self.what}: no photo could be classified ({len(self.rows)} tried)"
        share = self.survived / len(done)
        text = f"{self.what} over {len(done)} photos: the class survives in {self.survived} ({share:.0%})"
        answered = [r.area for r in done if self._answered(r)]
        if self.what.endswith("search") and answered:
            text += f"; median area {statistics.median(answered):.1%} of what the model sees"
        elif not self.what.endswith("search"):
            text += f"; hiding {statistics.median(r.area for r in done):.0%} of each photo (median)"
        failed = len(self.rows) - len(done)
        return text + (f"; {failed} could not be classified" if failed else "") + \
            f" ({self.model}, {self.fill} fill, {self.seconds:.1f} s)"

    def __str__(self) -> str:
        lines = [self.summary()]
        for r in self.sorted_rows():
            lines.append(f"  {r.name}: {r.error}" if r.error else
                         f"  {r.name}: {r.label} {r.probability:.1%} -> {r.after_label} {r.after_probability:.1%}"
                         f" (hid {r.area:.1%}{', least possible' if r.minimal else ''})")
        return "\n".join(lines)

    def to_html(self) -> str:
        """One self-contained page: the summary, then a card per photo, sorted by effect."""
        cards = "".join(_card(r) for r in self.sorted_rows())
        return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Maskscope: "
                f"{html.escape(self.what)}</title><style>{STYLE}</style></head><body>"
                f"<h1>Maskscope: {html.escape(self.what)}</h1><p class='summary'>{html.escape(self.summary())}</p>"
                f"<div class='grid'>{cards}</div></body></html>")

    def _repr_html_(self) -> str:
        return (f"<style>{STYLE}</style><p class='summary'>{html.escape(self.summary())}</p>"
                f"<div class='grid'>{''.join(_card(r) for r in self.sorted_rows())}</div>")

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.write_text(self.to_html(), encoding="utf-8")
        return path


STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d1d1f}"
         ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:1rem}"
         ".card{border:1px solid #ccc;border-radius:8px;padding:.5rem;font-size:.9rem}"
         ".card img{max-width:100%;display:block;margin-bottom:.4rem}.kept{color:#0a6e2e}.lost{color:#a11}"
         ".summary{font-size:1.05rem}")


def _card(row: Row) -> str:
    name = html.escape(row.name)
    if row.error:
        return f"<figure class='card'><figcaption><b>{name}</b><br>{html.escape(row.error)}</figcaption></figure>"
    verdict = "<span class='kept'>survives</span>" if row.survived else "<span class='lost'>changes</span>"
    known = ", the least possible" if row.minimal else ""
    return (f"<figure class='card'><img src='data:image/jpeg;base64,{_thumbnail(row)}' alt='{name}, hidden part "
            f"darkened'><figcaption><b>{name}</b><br>{html.escape(row.label)} {row.probability:.1%} &rarr; "
            f"{html.escape(row.after_label)} {row.after_probability:.1%}<br>hid {row.area:.1%}{known}: {verdict}"
            f"</figcaption></figure>")


def _thumbnail(row: Row) -> str:
    """The photo, its hidden part darkened, as a small JPEG (made when the report is, from the file)."""
    photo = upright_rgb(as_photo(row.path))
    hidden = (np.asarray(Image.open(io.BytesIO(row.hidden_png)).convert("L")) > 0 if row.hidden_png
              else np.zeros((photo.height, photo.width), bool))
    image = tinted(photo, hidden)
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return base64.b64encode(out.getvalue()).decode()


def photos_in(folder: Path | str) -> list[Path]:
    """The folder's photos (by suffix, not its sub-folders), by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    if len(found) > MAX_PHOTOS:
        raise ValueError(f"{folder} holds {len(found)} photos; one run takes at most {MAX_PHOTOS}: split it")
    return found


def rule_mask(rule: str, width: int, height: int, regions: Callable[[], np.ndarray] | None = None) -> np.ndarray:
    """A rule's mask (H x W bool, True where hidden). outside-centre: everything but a centred square
    half the photo's shorter side; centre: that square; region:N: the photo's own region N."""
    if rule in ("outside-centre", "centre"):
        side = min(width, height) // 2
        left, top = (width - side) // 2, (height - side) // 2
        centre = np.zeros((height, width), bool)
        centre[top:top + side, left:left + side] = True
        return ~centre if rule == "outside-centre" else centre
    if rule.startswith("region:") and rule[7:].isdigit():
        if regions is None:
            raise ValueError("a region rule needs the photo's regions")
        return regions() == int(rule[7:])
    raise ValueError(f"unknown rule {rule!r}; use one of {', '.join(RULES)}")


def check_rule(rule: str) -> None:
    rule_mask(rule, 2, 2, lambda: np.zeros((2, 2), np.uint8))


def run_folder(client, folder: Path | str, *, search: str | None = None, rule: str | None = None,
               model: str = "", fill: str = "gray", max_classifications: int = 0, concurrency: int = 8,
               bulk: bool = False, progress: Callable[[int, int], None] | None = None) -> FolderRun:
    """A search ("flip" or "keep") or a rule (RULES) over every photo of `folder`, `concurrency`
    photos at a time. bulk: yield to painters on a shared server (slower on a CPU, where bulk
    work runs a copy at a time). progress(done, total) after each photo."""
    if (search is None) == (rule is None):
        raise ValueError("give either search ('flip' or 'keep') or rule")
    if search is not None and search not in ("flip", "keep"):
        raise ValueError(f"unknown search {search!r}; give flip or keep")
    if rule is not None:
        check_rule(rule)
    if not 1 <= concurrency <= 64:
        raise ValueError(f"concurrency must be between 1 and 64; got {concurrency}")
    paths = photos_in(folder)
    start, done = time.monotonic(), 0

    def one(path: Path) -> Row:
        try:
            if search is not None:
                return _searched(client, path, search, model, fill, max_classifications)
            return _ruled(client, path, rule, model, fill, bulk)
        except (PhotoError, OSError, RuntimeError) as exc:  # ServiceError is a RuntimeError
            return Row(path.name, path, error=str(exc))

    rows: list[Row] = []
    with ThreadPoolExecutor(concurrency, thread_name_prefix="folder") as pool:
        for row in pool.map(one, paths):
            rows.append(row)
            done += 1
            if progress is not None:
                progress(done, len(paths))
    what = f"{search} search" if search else f"rule {rule}"
    model_name = next((r for r in _models_of(client, model)), model)
    return FolderRun(what, model_name, fill, rows, time.monotonic() - start)


def _models_of(client, model: str) -> list[str]:
    if model:
        return [model]
    return [m.name for m in client.models() if m.is_default]


def _searched(client, path: Path, goal: str, model: str, fill: str, budget: int) -> Row:
    found = client.search(path, goal=goal, model=model, fill=fill, max_classifications=budget)
    top = found.top
    survived = not found.found if goal == "flip" else found.found
    hidden = mask_png(found.hidden) if found.found else b""
    return Row(path.name, path, found.label, found.base_probability, top.label if top else found.label,
               top.probability if top else found.base_probability, found.probability if found.found else
               found.base_probability, survived, found.area, found.minimal, found.classifications, hidden)


def _ruled(client, path: Path, rule: str, model: str, fill: str, bulk: bool) -> Row:
    photo = as_photo(path)
    before = client.classify(photo, model=model, fill=fill, bulk=bulk)
    mask = rule_mask(rule, photo.width, photo.height, lambda: client.regions(photo))
    after = client.classify(photo, mask, model=model, fill=fill, track=[before.top.class_index], bulk=bulk)
    return Row(path.name, path, before.top.label, before.top.probability, after.top.label, after.top.probability,
               after.tracked[0].probability, after.top.class_index == before.top.class_index, float(mask.mean()),
               False, 2, mask_png(mask))
