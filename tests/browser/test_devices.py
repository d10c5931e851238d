"""The page on a phone, tablets and a laptop in real Chromium, against the real servers: the layout
fits, nothing moves the page, pinch and two-finger pan, tapping regions away, the keyboard, axe-core."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maskscope import session as sessions

from tests.browser.test_page import SCREENSHOTS
from tests.browser.conftest import opened, serving
from tests.conftest import ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
TOUCH = {"has_touch": True, "is_mobile": True, "device_scale_factor": 2}
DEVICES = {
    "phone": {"viewport": {"width": 390, "height": 844}, **TOUCH},
    "small-phone": {"viewport": {"width": 360, "height": 640}, **TOUCH},
    "tablet": {"viewport": {"width": 768, "height": 1024}, **TOUCH},
    "tablet-landscape": {"viewport": {"width": 1024, "height": 768}, **TOUCH},
    "laptop": {"viewport": {"width": 1280, "height": 800}},
}
TAP_MS = 60  # a finger's time on the glass in a tap
# The rest before the next touch, as a person's fingers take: Chromium makes no click of a tap that
# comes within some 400 ms of the end of a moving gesture (a stroke, a pinch).
TAP_REST_MS, GESTURE_REST_MS = 300, 1000
# Points on the coffee photo's cup (photo pixels), each in the cup's body.
CUP_POINTS = [(300, 110), (260, 150), (340, 150), (300, 190), (250, 220), (350, 220), (300, 60)]


@pytest.fixture(scope="module")
def stack(model_dir):
    with serving(model_dir) as stack:
        yield stack


@pytest.fixture
def device_page(request, browser, stack):
    """A fresh page on one of DEVICES; fails the test if the page throws."""
    def prepare(page):
        page.device = request.param
        page.fingers = Fingers(page)
        page.segments = []  # the /api/segments addresses the page asked for
        page.on("request", lambda r: page.segments.append(r.url) if "/api/segments" in r.url else None)

    # bypass_csp: the page's Content-Security-Policy would refuse axe-core's injected script.
    with opened(browser, stack["web"].url, init_script=RECORD_MASKS, before_goto=prepare,
                **DEVICES[request.param], bypass_csp=True) as page:
        yield page


def on_device(*names):
    return pytest.mark.parametrize("device_page", names, indirect=True)


def shot(page, state: str) -> None:
    """A screenshot through DevTools: Playwright's own, on a mobile-emulated page, leaves Chromium
    making no clicks of taps for some seconds after."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    png = page.fingers.cdp.send("Page.captureScreenshot", {"format": "png"})["data"]
    (SCREENSHOTS / f"device-{page.device}-{state}.png").write_bytes(base64.b64decode(png))


class Fingers:
    """Touch through Chrome's DevTools protocol: one or two fingers, in page (CSS) pixels. One per page:
    Chromium tells touches apart by their source."""

    def __init__(self, page):
        self.page = page
        self.cdp = page.context.new_cdp_session(page)

    def _lift(self, rest_ms: int) -> None:
        self._touch("touchEnd", [])
        self.page.wait_for_timeout(rest_ms)

    def _touch(self, kind: str, points) -> None:
        self.cdp.send("Input.dispatchTouchEvent", {
            "type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]})

    def tap(self, point) -> None:
        self._touch("touchStart", [point])
        self.page.wait_for_timeout(TAP_MS)
        self._lift(TAP_REST_MS)

    def swipe(self, start, end, steps: int = 10) -> None:
        self._touch("touchStart", [start])
        for k in range(1, steps + 1):
            t = k / steps
            self._touch("touchMove", [(start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)])
        self._lift(GESTURE_REST_MS)

    def pinch(self, centre, gap_from: float, gap_to: float, shift=(0.0, 0.0), steps: int = 10) -> None:
        """Two fingers either side of `centre`, moving apart from gap_from to gap_to apart while
        their middle moves by `shift` (a two-finger pan)."""
        def fingers(t):
            gap = gap_from + (gap_to - gap_from) * t
            cx, cy = centre[0] + shift[0] * t, centre[1] + shift[1] * t
            return [(cx - gap / 2, cy), (cx + gap / 2, cy)]
        self._touch("touchStart", fingers(0))
        for k in range(1, steps + 1):
            self._touch("touchMove", fingers(k / steps))
        self._lift(GESTURE_REST_MS)


def place(page) -> tuple[float, float, float]:
    """The photo's placement on the canvas: (scale, x, y), photo pixel p at x + p * scale."""
    scale, x, y = (float(v) for v in page.locator("#canvas").get_attribute("data-place").split(","))
    return scale, x, y


def to_page(page, px: float, py: float) -> tuple[float, float]:
    """A photo pixel, in page coordinates, at the canvas's current zoom."""
    box = page.locator("#canvas").bounding_box()
    scale, x, y = place(page)
    return box["x"] + x + px * scale, box["y"] + y + py * scale


def to_photo(page, sx: float, sy: float) -> tuple[float, float]:
    box = page.locator("#canvas").bounding_box()
    scale, x, y = place(page)
    return (sx - box["x"] - x) / scale, (sy - box["y"] - y) / scale


def zoom(page) -> float:
    return float(page.locator("#canvas").get_attribute("data-zoom") or 1)


def layout(page) -> dict:
    return page.evaluate("""() => {
        const box = (s) => { const r = document.querySelector(s).getBoundingClientRect();
                             return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
        return {scrollWidth: document.documentElement.scrollWidth, width: innerWidth, height: innerHeight,
                scrollX, scrollY, canvas: box('#canvas'), answer: box('#answer'), toolbar: box('.toolbar'),
                classify: box('[data-action=classify]'), history: box('#history')};
    }""")


def on_screen(box, view) -> bool:
    return box["top"] >= 0 and box["left"] >= 0 and box["bottom"] <= view["height"] + 0.5 \
        and box["right"] <= view["width"] + 0.5


def answer_text(page) -> str:
    return page.locator("#answer").inner_text().replace("\n", " ")


def wait_for_answer_change(page, before: str, timeout_ms: int = 20_000) -> str:
    page.wait_for_function("(before) => document.querySelector('#answer').innerText.replace(/\\n/g, ' ') !== before",
                           arg=before, timeout=timeout_ms)
    return answer_text(page)


def wait_for_unchanged_answer(page, opened: str) -> None:
    """Waits for the opened photo's answer again, shown as no change from it: "espresso 94% (±0) …"."""
    label, value, model = opened.rsplit(" ", 2)
    page.wait_for_function("(want) => document.querySelector('#answer').innerText.replace(/\\n/g, ' ') === want",
                           arg=f"{label} {value} (±0) {model}", timeout=20_000)


def touch(page) -> bool:
    return bool(DEVICES[page.device].get("has_touch"))


def press(page, selector: str) -> None:
    """A tap on a touch device (a finger on the button's middle), a click elsewhere."""
    if touch(page):
        target = page.locator(selector)
        view = page.evaluate("() => ({width: innerWidth, height: innerHeight})")
        if not on_screen(target.evaluate("(e) => e.getBoundingClientRect().toJSON()"), view):
            target.scroll_into_view_if_needed()  # as a person swipes the page to a button below
            page.wait_for_timeout(TAP_REST_MS)
        box = target.bounding_box()
        clicks = page.evaluate("() => window.__clicks")
        page.fingers.tap((box["x"] + box["width"] / 2, box["y"] + box["height"] / 2))
        assert page.evaluate("() => window.__clicks") == clicks + 1, f"the tap on {selector} made no click"
    else:
        page.click(selector)


def stroke(page, start, end) -> None:
    """A brush stroke between two page points: a finger on a touch device, the mouse elsewhere."""
    if touch(page):
        page.fingers.swipe(start, end)
    else:
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(*end, steps=10)
        page.mouse.up()


def wait_for_opening(page) -> None:
    """The page opens on the first sample (the coffee) and classifies it; nothing is clicked, so
    nothing (not even Playwright's scrolling to a target) has moved the page."""
    page.wait_for_function("() => document.querySelector('#summary').textContent.includes('says')", timeout=20_000)
    assert answer_text(page).startswith("espresso"), answer_text(page)


# Keeps each mask the page sends to /api/classify (Chromium does not hand a multipart body with a
# Blob to Playwright): the bytes of the very Blob in the request.
RECORD_MASKS = """
window.__clicks = 0;
document.addEventListener("click", () => window.__clicks++, true);
window.__masks = [];
const send = window.fetch;
window.fetch = function (url, options) {
  const mask = options?.body instanceof FormData ? options.body.get("mask") : null;
  if (String(url).endsWith("/api/classify")) {
    window.__masks.push(mask ? mask.arrayBuffer().then((b) => Array.from(new Uint8Array(b))) : null);
  }
  return send.apply(this, arguments);
};
"""


def classify_mask(page) -> np.ndarray:
    """Presses Classify and returns the mask that went to the server (True where painted)."""
    history = page.locator(".history-item").count()
    sent = page.evaluate("() => window.__masks.length")
    press(page, "[data-action=classify]")
    page.wait_for_function(f"() => document.querySelectorAll('.history-item').length > {history}", timeout=20_000)
    png = page.evaluate(f"async () => {{ const masks = window.__masks.slice({sent});"
                        " return masks.length === 1 ? await masks[0] : masks.length; }")
    assert isinstance(png, list), f"Classify sent {png} requests, not one with a mask"
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("L")) > 0


def wait_for_regions(page) -> None:
    page.wait_for_function("() => !document.querySelector('[data-action=region]').disabled", timeout=20_000)


@on_device("phone", "small-phone", "tablet", "tablet-landscape", "laptop")
def test_the_page_fits_and_nothing_moves_it(device_page):
    page = device_page
    wait_for_opening(page)
    view = layout(page)
    assert view["scrollWidth"] <= view["width"], f"the page is {view['scrollWidth']} px wide on a {view['width']} px screen"
    assert (view["scrollX"], view["scrollY"]) == (0, 0)
    for part in ("canvas", "answer", "toolbar", "classify"):
        assert on_screen(view[part], view), f"{part} is off the screen: {view[part]} on {view['width']}x{view['height']}"
    assert answer_text(page).startswith("espresso")
    shot(page, "1-opened")

    # Paint across the cup, classify after each stroke: the page stays put, the answer is on screen,
    # the history strip (not the page) scrolls to its newest entry.
    for row, y in enumerate((90, 150, 210, 270, 330)):
        stroke(page, to_page(page, 150, y), to_page(page, 450, y))
        before = answer_text(page)
        classify_mask(page)
        after = layout(page)
        assert (after["scrollX"], after["scrollY"]) == (0, 0), f"Classify moved the page to {after['scrollY']}"
        assert on_screen(after["answer"], after) and on_screen(after["canvas"], after)
        if row == 0:
            assert answer_text(page) != before or "espresso" in before
    assert page.locator(".history-item").count() == 6
    strip = page.evaluate("() => { const h = document.querySelector('#history');"
                          " return {scrollLeft: h.scrollLeft, overflow: h.scrollWidth - h.clientWidth}; }")
    if strip["overflow"] > 0:
        assert strip["scrollLeft"] >= strip["overflow"] - 1, strip  # the newest entry is in view
    assert not answer_text(page).startswith("espresso 94%"), answer_text(page)  # the cup is painted out
    shot(page, "2-painted")


@on_device("phone")
def test_pinch_zooms_and_paint_lands_under_the_finger(device_page):
    page = device_page
    wait_for_opening(page)
    fingers = page.fingers
    cup = to_page(page, 300, 160)
    photo_point = to_photo(page, *cup)
    fingers.pinch(cup, 60, 180)  # fingers 3x further apart
    assert zoom(page) == pytest.approx(3.0, rel=0.1)
    # The photo point under the fingers' middle stayed there.
    assert to_photo(page, *cup) == pytest.approx(photo_point, abs=3)
    assert page.locator("[data-action=undo]").is_disabled(), "a pinch painted"
    shot(page, "3-pinched")

    # A two-finger pan moves the photo with the fingers and keeps the zoom.
    under = to_photo(page, cup[0], cup[1])
    fingers.pinch(cup, 120, 120, shift=(0, 40))
    assert zoom(page) == pytest.approx(3.0, rel=0.1)
    assert to_photo(page, cup[0], cup[1] + 40) == pytest.approx(under, abs=3)
    assert page.locator("[data-action=undo]").is_disabled(), "a pan painted"

    # One finger paints, at the photo's own resolution, where it touched; the brush reads in screen pixels.
    scale, _, _ = place(page)
    brush = float(page.locator("#brush-size").input_value())
    start, end = (cup[0] - 60, cup[1]), (cup[0] + 60, cup[1])
    (x0, y0), (x1, y1) = to_photo(page, *start), to_photo(page, *end)
    fingers.swipe(start, end)
    mask = classify_mask(page)
    assert mask.shape == (400, 600)
    rows, cols = np.nonzero(mask)
    assert cols.min() == pytest.approx(x0 - brush / 2 / scale, abs=3)
    assert cols.max() == pytest.approx(x1 + brush / 2 / scale, abs=3)
    assert rows.mean() == pytest.approx(y0, abs=2)
    assert rows.max() - rows.min() == pytest.approx(brush / scale, abs=3)  # 44 screen px = ~15 photo px at 3x
    shot(page, "4-painted-zoomed")

    press(page, "[data-action=zoom-reset]")
    assert zoom(page) == 1
    assert to_page(page, 0, 0)[0] == pytest.approx(page.locator("#canvas").bounding_box()["x"], abs=1)


@on_device("phone")
def test_pinch_into_the_cup_tap_it_away_watch_the_answer(device_page):
    """The issue's 'done when': on a phone, pinch into the cup, tap it away, watch the answer change
    without scrolling (live mode), and undo brings it back."""
    page = device_page
    wait_for_opening(page)
    wait_for_regions(page)
    opened = answer_text(page)
    assert opened.startswith("espresso")
    press(page, "#live")
    assert page.locator("#live").is_checked()
    fingers = page.fingers
    fingers.pinch(to_page(page, 300, 150), 80, 160)
    assert zoom(page) == pytest.approx(2.0, rel=0.1)
    press(page, "[data-action=region]")
    assert page.locator("[data-action=region]").get_attribute("aria-pressed") == "true"
    shot(page, "5-regions")

    answers = [opened]
    for point in CUP_POINTS:
        fingers.tap(to_page(page, *point))
        answers.append(wait_for_answer_change(page, answers[-1]))
    assert len(set(answers)) == len(answers), answers  # every tap changed the answer
    assert not answers[-1].startswith("espresso 9"), answers  # the cup is gone: espresso is far from sure
    view = layout(page)
    assert view["scrollY"] == 0 and on_screen(view["answer"], view) and on_screen(view["canvas"], view)
    shot(page, "6-cup-tapped-away")

    # Each tap is one step of undo; undoing them all brings the photo (and its answer) back.
    for _ in CUP_POINTS:
        press(page, "[data-action=undo]")
    wait_for_unchanged_answer(page, opened)
    assert page.locator("[data-action=undo]").is_disabled()

    # A tap on a hidden region shows it again.
    fingers.tap(to_page(page, *CUP_POINTS[0]))
    hidden = wait_for_answer_change(page, opened)
    fingers.tap(to_page(page, *CUP_POINTS[0]))
    wait_for_unchanged_answer(page, opened)
    assert hidden != opened


@on_device("laptop")
def test_a_region_mask_is_the_region_and_joins_strokes(device_page):
    """The mask of a tapped region is exactly that region of the service's Segments; a brush stroke
    on top adds to it and undo takes the stroke back alone."""
    page = device_page
    wait_for_opening(page)
    wait_for_regions(page)
    # The regions the page was given (it asked for them once the photo's first answer came).
    labels = np.asarray(Image.open(io.BytesIO(page.request.get(page.segments[-1]).body())))
    assert labels.shape == (400, 600)
    page.click("[data-action=region]")
    page.mouse.click(*to_page(page, 300, 150))
    mask = classify_mask(page)
    region = labels[150, 300]
    assert np.array_equal(mask, labels == region)
    region_size = mask.sum()
    page.click("[data-action=paint]")
    page.mouse.move(*to_page(page, 100, 350))
    page.mouse.down()
    page.mouse.move(*to_page(page, 200, 350), steps=5)
    page.mouse.up()
    with_stroke = classify_mask(page)
    assert (with_stroke & mask).sum() == region_size and with_stroke.sum() > region_size
    page.click("[data-action=undo]")
    assert np.array_equal(classify_mask(page), mask)

    # History: the entry with the stroke brings region and stroke back.
    page.locator(".history-item").nth(2).click()
    assert np.array_equal(classify_mask(page), with_stroke)

    # The session file keeps each step's mask, region included, for reports and replay.
    with page.expect_download() as download:
        page.click("[data-action=export-json]")
    steps = sessions.parse(Path(download.value.path()).read_bytes()).steps
    masks = [np.asarray(Image.open(io.BytesIO(step.mask)).convert("L")) > 0 for step in steps[1:]]
    assert [m.sum() for m in masks] == [region_size, with_stroke.sum(), region_size, with_stroke.sum()]
    assert np.array_equal(masks[0], labels == region)


def focus_walk(page, presses: int = 160) -> list[dict]:
    """Tab through the page: what has the focus after each press, and whether its focus is visible."""
    seen, wrapped = [], 0
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement === document.body"):
            wrapped += 1  # past the last element (the walk starts where the focus was)
            if wrapped == 2:
                break
            continue
        seen.append(page.evaluate("""() => { const e = document.activeElement; const s = getComputedStyle(e);
            return {id: e.id, action: e.dataset.action || '', sample: e.dataset.sample || '', tag: e.tagName,
                    visible: e.matches(':focus-visible') && s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2}; }"""))
    return seen


@on_device("laptop")
def test_the_keyboard_reaches_every_tool(device_page):
    page = device_page
    wait_for_opening(page)
    wait_for_regions(page)
    # Paint with the keyboard first, so that Undo, Redo's neighbours and Clear are enabled (and reachable).
    page.focus("#canvas")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    assert page.locator("[data-action=undo]").is_enabled(), "Space on the photo did not paint"
    page.keyboard.press("+")
    assert zoom(page) > 1
    page.keyboard.press("0")
    assert zoom(page) == 1
    page.evaluate("() => document.activeElement.blur()")

    seen = focus_walk(page)
    reached = {s["action"] or s["id"] or s["sample"] for s in seen}
    tools = {"paint", "erase", "region", "brush-size", "undo", "clear", "live", "classify", "canvas",
             "zoom-in", "zoom-out", "zoom-reset", "upload", "model", "fill", "keep-painted", "compare-model",
             "explain", "explain-painted", "pin-search", "pin", "export-report", "export-json"}
    assert tools <= reached, f"not reachable by Tab: {sorted(tools - reached)}"
    assert any(s["sample"] == "coffee" for s in seen)
    invisible = [s for s in seen if not s["visible"]]
    assert not invisible, f"focus not visible on {invisible}"

    # Every tool works from the keyboard: the region tool, then Space on the photo hides a region.
    page.focus("[data-action=region]")
    page.keyboard.press("Enter")
    assert page.locator("[data-action=region]").get_attribute("aria-pressed") == "true"
    page.focus("#canvas")
    strokes = page.locator("[data-action=undo]").is_enabled()
    page.keyboard.press("Space")
    page.focus("[data-action=classify]")
    before = answer_text(page)
    page.keyboard.press("Enter")
    wait_for_answer_change(page, before)
    assert strokes
    page.focus("[data-action=zoom-in]")
    page.keyboard.press("Enter")
    assert zoom(page) > 1
    page.keyboard.press("Control+z")
    shot(page, "7-keyboard")


def axe_violations(page) -> list[dict]:
    assert AXE.exists(), "axe-core is missing: make test installs it (npm ci)"
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' '))}));
    }""")


@on_device("phone", "laptop")
def test_no_axe_core_violations_in_any_main_state(device_page):
    page = device_page
    wait_for_opening(page)
    wait_for_regions(page)
    states = {"opened": axe_violations(page)}
    press(page, "[data-action=region]")
    if touch(page):
        page.fingers.tap(to_page(page, 300, 150))
    else:
        page.mouse.click(*to_page(page, 300, 150))
    classify_mask(page)
    states["classified"] = axe_violations(page)
    press(page, "[data-action=explain]")
    page.wait_for_function("() => !document.querySelector('#show-map').disabled", timeout=60_000)
    states["map"] = axe_violations(page)
    press(page, "[data-action=zoom-in]")
    states["zoomed"] = axe_violations(page)
    found = {state: v for state, v in states.items() if v}
    assert not found, f"axe-core violations: {found}"


@on_device("laptop")
def test_live_answers_are_announced_politely_not_every_frame(device_page):
    page = device_page
    wait_for_opening(page)
    page.check("#live")
    page.evaluate("""() => { window.__said = []; window.__shown = 0;
        const status = document.querySelector('#status');
        new MutationObserver(() => window.__said.push(status.textContent)).observe(status, {childList: true, characterData: true, subtree: true});
        new MutationObserver(() => { window.__shown += 1; }).observe(document.querySelector('#answer'), {childList: true, subtree: true}); }""")
    assert page.locator("#status").get_attribute("aria-live") == "polite"
    start = to_page(page, 120, 60)
    page.mouse.move(*start)
    page.mouse.down()
    for k in range(40):  # about two seconds of painting, many live frames
        page.mouse.move(*to_page(page, 120 + k * 9, 60 + (k % 10) * 30))
        page.wait_for_timeout(50)
    page.mouse.up()
    page.wait_for_timeout(1500)
    said, shown = page.evaluate("() => [window.__said, window.__shown]")
    assert shown >= 4, shown  # the answer on screen followed the painting
    assert 1 <= len(said) <= 2, said  # a screen reader heard the answer once painting paused
    assert said[-1].startswith(answer_text(page).split()[0])
