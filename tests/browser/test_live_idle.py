"""Live mode against a web app that closes idle pages (--ws-idle-timeout-s): on a phone and a
laptop in real Chromium, the page lets an idle close be, and reconnects when its user paints again."""

from __future__ import annotations

import pytest

from tests.browser.conftest import serving
from tests.browser.test_devices import (answer_text, device_page, on_device, press, shot, stroke, to_page,  # noqa: F401
                                        wait_for_answer_change, wait_for_opening)

IDLE_S = 3


@pytest.fixture(scope="module")
def stack(model_dir):
    with serving(model_dir, "--ws-idle-timeout-s", str(IDLE_S), "--ws-ping-interval-s", "1") as stack:
        yield stack


SOCKETS = """() => window.__sockets.map((s) => ({state: s.readyState, code: s.closedWith}))"""
RECORD_SOCKETS = """
window.__sockets = [];
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    window.__sockets.push(this);
    this.addEventListener("close", (event) => { this.closedWith = event.code; });
  }
};
"""


@on_device("phone", "laptop")
def test_an_idle_live_page_is_closed_and_reconnects_when_its_user_paints_again(device_page):
    page = device_page
    page.add_init_script(RECORD_SOCKETS)
    page.reload()
    wait_for_opening(page)
    press(page, "#live")
    opened = answer_text(page)
    stroke(page, to_page(page, 220, 150), to_page(page, 380, 150))
    wait_for_answer_change(page, opened)
    page.wait_for_timeout(1000)  # the stroke's last answer (live mode answers during it too)
    painted = answer_text(page)
    assert [s["state"] for s in page.evaluate(SOCKETS)] == [1]  # one live socket, open

    # Idle past the timeout (pings answered by the browser do not count): closed as idle, and the
    # page does not open another by itself.
    page.wait_for_function("() => window.__sockets[0].readyState === 3", timeout=(IDLE_S + 5) * 1000)
    page.wait_for_timeout(2000)
    assert page.evaluate(SOCKETS) == [{"state": 3, "code": 4000}]
    assert answer_text(page) == painted and page.locator("#banner").is_hidden()  # nothing to tell the user
    shot(page, "live-idle-closed")

    stroke(page, to_page(page, 220, 250), to_page(page, 380, 250))
    again = wait_for_answer_change(page, painted)
    assert again != painted
    sockets = page.evaluate(SOCKETS)
    assert len(sockets) == 2 and sockets[1]["state"] == 1
    shot(page, "live-idle-reconnected")
