"""What flips it, what keeps it, and the challenge, on the page in real Chromium (a phone and a
laptop), against the real web app and inference service: progress, the overlay and the sentence,
"Use this" as one undoable step, a keep, a cancel, and a best that survives a reload."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from maskscope import session as sessions

from tests.browser.conftest import opened, serving
from tests.browser.test_page import SCREENSHOTS
from tests.browser.test_devices import (answer_text, classify_mask, axe_violations, device_page, layout, on_device,  # noqa: F401
                                        press, shot, stroke, to_page, touch, wait_for_answer_change,
                                        wait_for_opening)

SEARCH_S = 120_000  # a search on these CPUs: a flip in seconds, a keep in tens of seconds, more under load


@pytest.fixture(scope="module")
def stack(model_dir):
    with serving(model_dir) as stack:
        yield stack


def record_searches(page) -> None:
    """Keeps the text of each /api/search answer, and each progress line the page showed."""
    page.evaluate("""() => {
        window.__searches = [];
        window.__progress = [];
        const send = window.fetch;
        window.fetch = async function (url, options) {
            const response = await send.apply(this, arguments);
            if (String(url).endsWith('/api/search') && response.ok) response.clone().text().then((t) => window.__searches.push(t));
            return response;
        };
        const text = document.querySelector('#search-progress-text');
        new MutationObserver(() => { if (!text.hidden) window.__progress.push(text.textContent); })
            .observe(text, {childList: true, characterData: true, subtree: true, attributes: true});
    }""")


def wait_for_search(page, count: int) -> dict:
    """The `count`th search's result, once the page has shown it."""
    page.wait_for_function(f"() => window.__searches.length >= {count}", timeout=SEARCH_S)
    result = json.loads(page.evaluate(f"() => window.__searches[{count - 1}]").strip().splitlines()[-1])["result"]
    page.wait_for_function("() => !/^Looking/.test(document.querySelector('#search-sentence').textContent)",
                           timeout=SEARCH_S)
    return result


def sentence(page) -> str:
    return page.inner_text("#search-sentence")


def titles(page) -> list[str]:
    return page.eval_on_selector_all(".history-item img", "imgs => imgs.map((i) => i.alt)")


def classify(page) -> str:
    before = page.locator(".history-item").count()
    press(page, "[data-action=classify]")
    page.wait_for_function(f"() => document.querySelectorAll('.history-item').length > {before}", timeout=20_000)
    return answer_text(page)


def dab(page) -> None:
    """One dab of paint at the photo's centre, from the keyboard (the same on a phone and a laptop)."""
    page.locator("#brush-size").evaluate("e => { e.value = 30; e.dispatchEvent(new Event('input')); }")
    page.focus("#canvas")
    page.keyboard.press("Space")


def overlay_shown(page) -> bool:
    return page.evaluate("() => document.querySelector('#show-search').checked")


@on_device("phone", "laptop")
def test_what_flips_it_then_use_this_and_undo(device_page):
    page = device_page
    wait_for_opening(page)
    page.wait_for_selector("#search-buttons:not([hidden])")
    record_searches(page)
    dab(page)
    dabbed = classify_mask(page)
    painted = answer_text(page)
    assert dabbed.any() and painted.startswith("espresso"), painted  # a dab leaves the class

    press(page, "[data-action=search-flip]")
    result = wait_for_search(page, 1)
    assert result["found"] and result["goal"] == "flip" and result["label"] == "espresso"
    new_class = result["predictions"][0]["label"]
    assert page.evaluate("() => window.__progress.some((t) => / of \\d+ classifications/.test(t))"), "no progress shown"
    assert page.locator("#search-progress").is_hidden() and page.locator("[data-action=search-cancel]").is_hidden()
    words = sentence(page)
    assert words.startswith("You hid ") and "it still says “espresso”" in words and f"into “{new_class}”" in words, words
    assert page.locator("#search-sentence").get_attribute("aria-live") == "polite"
    assert overlay_shown(page)
    view = layout(page)
    assert view["scrollWidth"] <= view["width"], f"the page is {view['scrollWidth']} px wide on {view['width']}"
    shot(page, "search-1-flip")
    if not touch(page):  # Playwright's own screenshot leaves a mobile-emulated page deaf to taps for a while
        page.locator("#stage").screenshot(path=str(SCREENSHOTS / "search-flip-overlay.png"))
    assert not axe_violations(page)

    steps = page.locator(".history-item").count()
    press(page, "[data-action=search-use]")
    page.wait_for_function(f"() => document.querySelectorAll('.history-item').length > {steps}", timeout=20_000)
    used = answer_text(page)
    assert used.startswith(new_class), (used, new_class)
    assert titles(page)[-1] == "Used the search's flip"
    assert not overlay_shown(page)  # the paint shows the answer now
    shot(page, "search-2-used")

    press(page, "[data-action=undo]")  # one step: the dab is back, and its answer
    assert np.array_equal(classify_mask(page), dabbed) and answer_text(page) == painted
    press(page, "[data-action=redo]")
    assert classify(page).startswith(new_class)


def png_mask(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L")) > 0


@on_device("laptop")
def test_what_keeps_it_says_what_it_keeps(device_page, tmp_path):
    page = device_page
    wait_for_opening(page)
    page.wait_for_selector("#search-buttons:not([hidden])")
    record_searches(page)
    press(page, "[data-action=search-keep]")
    result = wait_for_search(page, 1)
    assert result["goal"] == "keep" and result["found"], result
    words = sentence(page)
    assert words.startswith("Keeping only these ") and "(everything else hidden), it still says “espresso” at" in words
    shot(page, "search-3-keep")
    page.locator("#stage").screenshot(path=str(SCREENSHOTS / "search-keep-overlay.png"))
    steps = page.locator(".history-item").count()
    press(page, "[data-action=search-use]")
    page.wait_for_function(f"() => document.querySelectorAll('.history-item').length > {steps}", timeout=20_000)
    assert answer_text(page).startswith("espresso")
    assert titles(page)[-1] == "Used the search's keep"
    # The session file carries the step as any paint: its title, and the search's very mask.
    with page.expect_download() as download:
        page.click("[data-action=export-json]")
    path = tmp_path / "session.json"
    download.value.save_as(path)
    step = sessions.parse(path.read_bytes()).steps[-1]
    assert step.title == "Used the search's keep" and step.predictions[0]["label"] == "espresso"
    hidden = png_mask(base64.b64decode(result["hidden"].split(",", 1)[1]))
    assert np.array_equal(png_mask(step.mask), hidden)


@on_device("laptop")
def test_a_search_can_be_cancelled(device_page):
    page = device_page
    wait_for_opening(page)
    page.wait_for_selector("#search-buttons:not([hidden])")
    press(page, "[data-action=search-keep]")
    page.wait_for_selector("[data-action=search-cancel]:not([hidden])")
    press(page, "[data-action=search-cancel]")
    page.wait_for_function("() => document.querySelector('#search-sentence').textContent === 'The search was cancelled.'")
    assert page.locator("#search-progress").is_hidden() and page.locator("#search-result").is_hidden()


CUP_ROWS = [((130, y), (460, y)) for y in (70, 140, 210, 280, 330)]  # painted, they hide the cup


def test_the_challenge_keeps_the_best_through_a_reload(browser, stack):
    with opened(browser, stack["web"].url, viewport={"width": 1280, "height": 1000}) as page:
        page.device = "laptop"
        wait_for_opening(page)
        page.wait_for_selector("#challenge-box:not([hidden])")
        page.click("[data-action=challenge]")
        assert page.get_attribute("[data-action=challenge]", "aria-pressed") == "true"
        page.wait_for_function("() => document.querySelector('#challenge').textContent.includes('The search needed')",
                               timeout=SEARCH_S)
        assert page.locator("#challenge").get_attribute("aria-live") == "polite"
        page.locator("#brush-size").evaluate("e => { e.value = 90; e.dispatchEvent(new Event('input')); }")
        for start, end in CUP_ROWS:
            stroke(page, to_page(page, *start), to_page(page, *end))
        page.click("[data-action=classify]")
        page.wait_for_function("() => document.querySelector('#challenge').textContent.startsWith('You changed')",
                               timeout=20_000)
        said = page.inner_text("#challenge")
        assert not answer_text(page).startswith("espresso")
        mine = said.split("hiding ", 1)[1].split(";", 1)[0]
        assert f"Your best on this photo: {mine}." in said, said
        assert "the search needed" in said

        page.reload()
        wait_for_opening(page)
        page.wait_for_selector("#challenge-box:not([hidden])")
        page.click("[data-action=challenge]")
        page.wait_for_function("() => document.querySelector('#challenge').textContent.includes('Your best')")
        assert f"Your best on this photo: {mine}." in page.inner_text("#challenge")
        page.click("[data-action=challenge]")  # off again
        assert page.inner_text("#challenge") == ""
