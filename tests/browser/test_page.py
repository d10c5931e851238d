"""The page in real Chromium, against the real web app and the real inference service."""

from __future__ import annotations

import re
import struct

import pytest

from tests.browser.conftest import opened, serving
from tests.conftest import ARTIFACTS, ServerProcess, free_port

SCREENSHOTS = ARTIFACTS / "screenshots"
COFFEE = (600, 400)
COFFEE_CLASSES = ("espresso", "cup", "coffee mug")
# Rows across the cup and saucer of the coffee photo, in photo pixels: painted, they hide it all.
CUP_ROWS = [((130, y), (460, y)) for y in (70, 140, 210, 280, 330)]



@pytest.fixture(scope="module")
def stack(model_dir):
    """Inference on a fixed port (so a test can restart it there) and the web app in front of it."""
    port = free_port()
    with serving(model_dir, port=port) as stack:
        stack["port"] = port
        yield stack


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def results(page) -> list[tuple[str, str]]:
    """(label, percentage) for each row of the top-5 on the page."""
    rows = page.locator("#predictions li")
    return [(rows.nth(i).locator(".label").inner_text(), rows.nth(i).locator(".value").inner_text())
            for i in range(rows.count())]


def wait_for_new_results(page, before, timeout_ms=20_000):
    page.wait_for_function(
        "(before) => { const rows = [...document.querySelectorAll('#predictions li')];"
        " const now = rows.map(r => r.querySelector('.label').textContent + '|' + r.querySelector('.value').textContent);"
        " return rows.length > 0 && now.join(';') !== before; }",
        arg=";".join(f"{label}|{value}" for label, value in before), timeout=timeout_ms)
    return results(page)


def pick_coffee(page):
    # The page opens with the first sample, coffee, on its own: let that finish, then choose coffee
    # and wait for this choice's answer (until the photo is reloaded, the summary and the page's
    # state are the opening ones', and a click in between would meet a page with no answer yet).
    says = "() => document.querySelector('#summary').textContent.includes('says')"
    page.wait_for_function(says, timeout=20_000)
    page.evaluate("() => { document.querySelector('#summary').textContent = ''; }")
    page.click(".sample[data-sample=coffee]")
    page.wait_for_function(says, timeout=20_000)
    page.wait_for_selector("#predictions li")
    return results(page)


def to_screen(page, x, y):
    """A point of the coffee photo, in page coordinates (the photo is scaled to fit the canvas)."""
    box = page.locator("#canvas").bounding_box()
    scale = min(box["width"] / COFFEE[0], box["height"] / COFFEE[1])
    left = box["x"] + (box["width"] - COFFEE[0] * scale) / 2
    top = box["y"] + (box["height"] - COFFEE[1] * scale) / 2
    return left + x * scale, top + y * scale


def set_brush(page, size):
    page.locator("#brush-size").evaluate(f"e => {{ e.value = {size}; e.dispatchEvent(new Event('input')); }}")


def drag(page, start, end, steps=12):
    page.mouse.move(*to_screen(page, *start))
    page.mouse.down()
    page.mouse.move(*to_screen(page, *end), steps=steps)
    page.mouse.up()


def paint_cup(page):
    for start, end in CUP_ROWS:
        drag(page, start, end)


def classify(page):
    before = results(page)
    page.click("[data-action=classify]")
    return before


def classify_and_read(page):
    sequence = page.evaluate("() => document.querySelectorAll('.history-item').length")
    page.click("[data-action=classify]")
    page.wait_for_function(f"() => document.querySelectorAll('.history-item').length > {sequence}", timeout=20_000)
    return results(page)


def top_percent(rows) -> float:
    return float(rows[0][1].rstrip("%"))


def test_pick_the_coffee_sample_and_classify(page):
    rows = pick_coffee(page)
    assert rows[0][0] in COFFEE_CLASSES
    assert re.fullmatch(r"\d+(\.\d)?%", rows[0][1])
    assert len(rows) == 5
    assert classify_and_read(page)[0] == rows[0]  # nothing painted: the same answer
    assert page.locator(".history-item").count() == 2
    screenshot(page, "1-coffee-classified")


def test_paint_erase_undo_redo(page):
    original = pick_coffee(page)
    set_brush(page, 90)
    paint_cup(page)
    uploads = []

    def capture(route):
        uploads.append(route.request.post_data_buffer)
        route.continue_()

    page.route("**/api/classify", capture)
    painted = classify_and_read(page)
    page.unroute("**/api/classify")
    mask = uploads[-1][uploads[-1].index(b"\x89PNG"):]
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", mask[16:26])
    assert (width, height, bit_depth, colour_type) == (*COFFEE, 1, 0), "the page sends a 1-bit mask"
    assert b"image_id" in uploads[-1] and len(uploads[-1]) < 5000, "only the mask goes, not the photo again"
    assert painted != original
    assert original[0][0] not in [label for label, _ in painted], "the cup is hidden: its class should drop out"
    # The original top class stays visible, with its change, though it left the top 5.
    original_box = page.locator("#original-top")
    assert original[0][0] in original_box.inner_text() and "(−" in original_box.inner_text()
    screenshot(page, "2-cup-painted")

    page.click("[data-action=erase]")
    set_brush(page, 140)
    paint_cup(page)  # the same path with a wider eraser takes all the paint away
    erased = classify_and_read(page)
    screenshot(page, "3-paint-erased")
    assert erased == original

    for _ in CUP_ROWS:  # undo every erase stroke: the paint is back
        page.keyboard.press("Control+z")
    assert classify_and_read(page) == painted
    page.click("[data-action=redo]")
    for _ in CUP_ROWS[1:]:
        page.keyboard.press("Control+Shift+z")
    assert classify_and_read(page) == original

    # Clicking a history entry brings its mask back.
    page.locator(".history-item").nth(1).click()  # 0: the unpainted photo, 1: the cup painted
    assert results(page) == painted
    assert page.evaluate("() => document.querySelector('[data-action=undo]').disabled") is False


def test_live_mode_updates_while_dragging(page):
    original = pick_coffee(page)
    page.check("#live")
    set_brush(page, 100)
    page.mouse.move(*to_screen(page, 130, 60))
    page.mouse.down()
    for y in range(60, 340, 14):  # a zig-zag over the cup, slowly, without letting go
        page.mouse.move(*to_screen(page, 130 if (y // 14) % 2 else 460, y), steps=4)
        page.wait_for_timeout(40)
    changed = wait_for_new_results(page, original)  # no click: live mode answered during the drag
    page.mouse.up()
    assert changed != original
    page.wait_for_timeout(1500)
    final = results(page)
    assert original[0][0] not in [label for label, _ in final]
    assert page.locator(".history-item").count() >= 2
    screenshot(page, "4-live-mode")


def test_upload_an_image_file(page, tmp_path, photo_png):
    pick_coffee(page)
    photo = tmp_path / "my-cat.png"
    photo.write_bytes(photo_png["chelsea"])
    before = results(page)
    page.set_input_files("#file", str(photo))
    rows = wait_for_new_results(page, before)
    assert any(word in " ".join(label for label, _ in rows[:3]) for word in ("cat", "tabby", "lynx"))
    assert page.locator(".history-item").count() == 1  # a new photo starts a new record
    screenshot(page, "5-uploaded-photo")

    text_file = tmp_path / "notes.txt"
    text_file.write_text("this is not a photo")
    page.set_input_files("#file", str(text_file))
    page.wait_for_selector("#banner:not([hidden])")
    assert "not an image" in page.inner_text("#banner")


def test_a_photo_over_the_web_apps_upload_limit_is_refused_before_it_is_sent(browser, stack):
    def one_mb_limit(route):
        route.fulfill(json={"upload_bytes": 1 << 20, "live_message_bytes": 2 << 20})

    with opened(browser, stack["web"].url, viewport={"width": 1280, "height": 1000},
                before_goto=lambda page: page.route("**/api/limits", one_mb_limit)) as page:
        pick_coffee(page)
        sent = []
        page.on("request", lambda request: sent.append(request.url) if "/api/classify" in request.url else None)
        page.set_input_files("#file", files=[{"name": "big.png", "mimeType": "image/png",
                                              "buffer": b"\x89PNG\r\n\x1a\n" + bytes(2 << 20)}])
        page.wait_for_selector("#banner:not([hidden])")
        assert page.inner_text("#banner") == '"big.png" is too large (2.0 MB); the limit is 1 MB.'
        assert not sent


def test_the_legend_shows_the_paint_in_the_colour_the_canvas_lays_it(page):
    pick_coffee(page)
    legend, paint = page.evaluate("""async () => {
        const { PAINT_SWATCH } = await import('/static/js/mask_canvas.js');
        const probe = Object.assign(document.createElement('span'), { className: 'swatch' });
        probe.style.background = PAINT_SWATCH;
        document.body.append(probe);
        return [getComputedStyle(document.querySelector('.swatch.paint')).backgroundColor,
                getComputedStyle(probe).backgroundColor];
    }""")
    assert legend == paint and paint != "rgba(0, 0, 0, 0)"


def test_inference_down_then_back(page, stack, model_dir):
    original = pick_coffee(page)
    stack["inference"].stop()
    page.click("[data-action=classify]")
    page.wait_for_selector("#banner.offline:not([hidden])", timeout=20_000)
    assert "not reachable" in page.inner_text("#banner")
    screenshot(page, "6-inference-down")

    stack["inference"] = ServerProcess(model_dir, port=stack["port"])
    page.wait_for_function("() => !document.querySelector('#banner').classList.contains('offline')", timeout=30_000)
    assert classify_and_read(page)[0] == original[0]
    screenshot(page, "7-inference-back")


def test_live_stream_resumes_after_an_inference_restart(page, stack, model_dir):
    original = pick_coffee(page)
    page.check("#live")
    set_brush(page, 100)
    drag(page, *CUP_ROWS[0])
    first = wait_for_new_results(page, original)
    stack["inference"].stop()
    drag(page, *CUP_ROWS[2])
    page.wait_for_selector("#banner.offline:not([hidden])", timeout=20_000)
    stack["inference"] = ServerProcess(model_dir, port=stack["port"])
    page.wait_for_function("() => !document.querySelector('#banner').classList.contains('offline')", timeout=30_000)
    # The restarted service has forgotten the photo: the page sends it again by itself, then the mask.
    page.wait_for_timeout(1000)
    before = results(page)
    drag(page, *CUP_ROWS[4])
    after = wait_for_new_results(page, before)
    assert after != first
    screenshot(page, "8-live-after-restart")


def test_the_pages_png_encoder_writes_masks_that_pil_reads_exactly(page):
    import io

    import numpy as np
    from PIL import Image

    width, height = 37, 11  # rows that do not end on a byte boundary
    data = page.evaluate("""async ([width, height]) => {
        const { oneBitPng } = await import('/static/js/png.js');
        const alpha = new Uint8ClampedArray(width * height * 4);
        for (let y = 0; y < height; y++) for (let x = 0; x < width; x++)
            if ((x * 7 + y * 3) % 5 === 0) alpha[(y * width + x) * 4 + 3] = 1 + (x % 255);
        const blob = await oneBitPng(width, height, alpha);
        const empty = await oneBitPng(width, height, new Uint8ClampedArray(width * height * 4));
        return { bytes: Array.from(new Uint8Array(await blob.arrayBuffer())), empty: empty === null };
    }""", [width, height])
    assert data["empty"], "nothing painted: no mask at all"
    image = Image.open(io.BytesIO(bytes(data["bytes"])))
    assert image.mode == "1" and image.size == (width, height)
    expected = np.fromfunction(lambda y, x: (x * 7 + y * 3) % 5 == 0, (height, width))
    np.testing.assert_array_equal(np.asarray(image), expected)
