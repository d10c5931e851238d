"""The page's exploring tools in real Chromium: the occlusion map, pinning, comparing, exporting."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from maskscope import session as sessions
from tests.browser.test_page import (classify_and_read, drag, paint_cup, pick_coffee, screenshot, set_brush,
                                     to_screen)
from tests.browser.conftest import serving
from tests.conftest import ROOT

SECOND_MODEL = "efficientnet-lite0-untrained"


@pytest.fixture(scope="module")
def two_models(model_dir, tmp_path_factory):
    """The real model, and a second one to compare with: the same architecture with random weights."""
    root = tmp_path_factory.mktemp("models")
    shutil.copytree(model_dir / "efficientnet-lite0", root / "efficientnet-lite0")
    untrained = tmp_path_factory.mktemp("untrained")
    subprocess.run([sys.executable, "-m", "inference_service.export", "efficientnet-lite0", "--random-weights",
                    "--out", str(untrained)], check=True, cwd=ROOT, capture_output=True)
    folder = root / SECOND_MODEL
    shutil.copytree(untrained / "efficientnet-lite0", folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**metadata, "name": SECOND_MODEL}))
    return root


@pytest.fixture(scope="module")
def stack(two_models):
    with serving(two_models) as stack:
        yield stack


def canvas_pixel(page, x, y):
    """The main canvas's colour at a point of the coffee photo."""
    px, py = to_screen(page, x, y)
    return page.evaluate(
        "([px, py]) => { const c = document.querySelector('#canvas'); const r = c.getBoundingClientRect();"
        " const d = window.devicePixelRatio || 1;"
        " return Array.from(c.getContext('2d').getImageData((px - r.left) * d, (py - r.top) * d, 1, 1).data); }",
        [px, py])


def explain(page):
    page.click("[data-action=explain]")  # says "Hiding one square…" at once, until the map is in
    page.wait_for_function("() => !document.querySelector('#explain-summary').textContent.startsWith('Hiding')"
                           " && !document.querySelector('#show-map').disabled", timeout=60_000)


def test_occlusion_map_overlay_and_your_map(page):
    pick_coffee(page)
    before = canvas_pixel(page, 300, 200)
    seen_progress = page.evaluate("""() => new Promise((resolve) => {
        const bar = document.querySelector('#explain-progress');
        new MutationObserver(() => { if (!bar.hidden) resolve(true); }).observe(bar, {attributes: true});
        document.querySelector('[data-action=explain]').click(); })""")
    assert seen_progress
    page.wait_for_function("() => !document.querySelector('#show-map').disabled", timeout=60_000)
    summary = page.locator("#explain-summary").inner_text()
    assert summary.startswith("espresso") and "hiding the brightest square costs it up to" in summary
    assert page.locator("#maps").is_visible()
    with_map = canvas_pixel(page, 300, 200)  # the cup: where the model looks
    # Tinted by the map's scale (its upper half at the cup: teal to yellow), never the paint's pink or
    # a red that could pass for it: red stays within a shade of green.
    assert with_map != before and with_map[0] - with_map[1] < 25, (before, with_map)
    screenshot(page, "5-occlusion-map")
    page.uncheck("#show-map")
    assert canvas_pixel(page, 300, 200) == before
    # No strokes yet: no map of yours to compare.
    assert "Paint a few strokes" in page.locator("#agreement").inner_text()

    # A stroke over the table below the saucer (little happens), then one across the cup (espresso drops).
    set_brush(page, 80)
    drag(page, (140, 370), (460, 370))
    classify_and_read(page)
    drag(page, (180, 110), (420, 110))
    drag(page, (180, 170), (420, 170))
    classify_and_read(page)
    explain(page)
    agreement = page.locator("#agreement").inner_text()
    assert agreement.startswith("Agreement ")
    assert float(agreement.split()[1].rstrip(":")) > 0.4, agreement  # the cup matters to both
    screenshot(page, "6-your-map")

    # Faithfulness: each map's deletion area, and a random order's.
    page.click("[data-action=faithfulness]")
    page.wait_for_function("() => document.querySelector('#faithfulness').textContent.startsWith('Deletion area')",
                           timeout=60_000)
    text = page.locator("#faithfulness").inner_text()
    areas = dict(re.findall(r"(the model's map|your map|random) (\d\.\d\d)", text))
    assert set(areas) == {"the model's map", "your map", "random"} and "gray fill" in text, text
    assert all(0 <= float(a) <= 1 for a in areas.values())


def test_pin_a_class_and_follow_it(page):
    pick_coffee(page)
    page.fill("#pin-search", "no such class")
    page.click("[data-action=pin]")
    assert "No class is called" in page.locator("#banner").inner_text()
    page.fill("#pin-search", "Espresso")
    page.press("#pin-search", "Enter")
    assert page.locator("#pinned-name").inner_text() == "espresso"
    set_brush(page, 90)
    paint_cup(page)
    classify_and_read(page)
    page.wait_for_function("() => document.querySelectorAll('#pinned-chart circle').length >= 2", timeout=20_000)
    titles = page.locator("#pinned-chart circle title").evaluate_all("els => els.map((e) => e.textContent)")
    first, last = (float(t.split(": ")[1].rstrip("%")) for t in (titles[0], titles[-1]))
    assert first > 50 and last < first / 2, titles  # the cup is hidden: the espresso goes
    # Clicking a class in the results pins it instead.
    page.locator("#predictions li").nth(1).click()
    assert page.locator("#pinned-name").inner_text() == page.locator("#predictions li .label").nth(1).inner_text()
    assert page.locator("#predictions li.pinned").count() == 1
    screenshot(page, "7-pinned-class")


def test_compare_two_models_and_the_inpaint_fill(page):
    pick_coffee(page)
    page.select_option("#compare-model", SECOND_MODEL)
    page.wait_for_function("() => document.querySelector('#compare-summary').textContent.includes('says')",
                           timeout=20_000)
    assert page.locator("#compare-summary").inner_text().startswith(f"{SECOND_MODEL} says:")
    assert page.locator("#compare-predictions li").count() == 5
    untrained_top = page.locator("#compare-predictions li .label").first.inner_text()
    assert untrained_top != "espresso"
    set_brush(page, 90)
    paint_cup(page)
    gray = classify_and_read(page)
    page.select_option("#fill", "inpaint")
    page.wait_for_function("(before) => document.querySelector('#predictions li .value').textContent !== before",
                           arg=gray[0][1], timeout=20_000)
    screenshot(page, "8-compare-inpaint")


def test_export_the_session_as_json_and_report(page, tmp_path):
    pick_coffee(page)
    set_brush(page, 90)
    paint_cup(page)
    classify_and_read(page)
    with page.expect_download() as download:
        page.click("[data-action=export-json]")
    path = tmp_path / "session.json"
    download.value.save_as(path)
    assert download.value.suggested_filename == "maskscope-Coffee.json" or download.value.suggested_filename.endswith(".json")
    session = sessions.parse(path.read_bytes())
    assert len(session.steps) == 2 and session.model == "efficientnet-lite0" and session.steps[0].mask == b""
    assert session.steps[0].predictions[0]["label"] == "espresso" and session.steps[1].mask.startswith(b"\x89PNG")
    with page.expect_download() as download:
        page.click("[data-action=export-report]")
    report = tmp_path / "report.html"
    download.value.save_as(report)
    text = report.read_text()
    assert text.count("<tr><td class=step>") == 2 and "espresso" in text


def test_every_tool_sends_the_photo_again_when_the_service_has_forgotten_it(page):
    """The map, the second model, the faithfulness areas and the regions each meet a NOT_FOUND
    once (as after a restart of the service): the page sends the photo itself, and the tool works."""
    forgotten: dict[str, int] = {}
    photo_sent: dict[str, int] = {}

    def forget_once(route):
        request = route.request
        path = request.url.split("?")[0].rsplit("/", 1)[-1]
        body = request.post_data_buffer or b""
        by_id = b'name="image_id"' in body or b'"image_id"' in body or "image_id=" in request.url
        if b'filename=' in body and b'name="image"' in body:
            photo_sent[path] = photo_sent.get(path, 0) + 1
        if by_id and path not in forgotten and path != "classify":
            forgotten[path] = 1
            return route.fulfill(status=404, content_type="application/json",
                                 body=json.dumps({"error": "send the image itself again", "code": "NOT_FOUND"}))
        return route.continue_()

    page.route(re.compile(r".*/api/(explain|faithfulness|segments)(\?.*)?$"), forget_once)
    pick_coffee(page)
    page.wait_for_function("() => !document.querySelector('[data-action=region]').disabled", timeout=30_000)
    assert forgotten.get("segments") == 1  # the regions came once the photo had gone again
    explain(page)
    assert page.locator("#explain-summary").inner_text().startswith("espresso")
    assert forgotten.get("explain") == 1 and photo_sent.get("explain") == 1
    page.click("[data-action=faithfulness]")
    page.wait_for_function("() => document.querySelector('#faithfulness').textContent.startsWith('Deletion area')",
                           timeout=60_000)
    assert forgotten.get("faithfulness") == 1

    page.unroute(re.compile(r".*/api/(explain|faithfulness|segments)(\?.*)?$"))
    compared: list[int] = []

    def forget_the_second_model_once(route):
        body = route.request.post_data_buffer or b""
        if SECOND_MODEL.encode() in body and b'name="image_id"' in body and not compared:
            compared.append(1)
            return route.fulfill(status=404, content_type="application/json",
                                 body=json.dumps({"error": "send the image itself again", "code": "NOT_FOUND"}))
        return route.continue_()

    page.route("**/api/classify", forget_the_second_model_once)
    page.select_option("#compare-model", SECOND_MODEL)
    page.wait_for_function("() => document.querySelector('#compare-summary').textContent.includes('says')",
                           timeout=20_000)
    assert compared and not page.locator("#banner").is_visible()
