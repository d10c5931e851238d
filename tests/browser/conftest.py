"""Real Chromium (Debian's, driven by Playwright); each test module supplies the `stack` it runs
against (`serving`: the real inference service and web app), and its pages come from `opened`."""

import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, WebServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def serving(model_dir: Path, *web_args: str, port: int = 0, env: dict | None = None):
    """The gallery's photos, the inference service on `model_dir` (on `port`, else a free one) and
    the web app in front of it, as {"inference": ..., "web": ...}; a test may put a restarted
    service in the dict, and that one is stopped."""
    from web_client.samples import extract
    extract()  # the gallery's photos (make samples does the same)
    stack = {"inference": ServerProcess(model_dir, port=port)}
    try:
        stack["web"] = WebServer(stack["inference"].address, *web_args, env=env)
        yield stack
    finally:
        if "web" in stack:
            stack["web"].stop()
        stack["inference"].stop()


@contextmanager
def opened(browser, url: str, *, init_script: str | None = None, before_goto=None, **context_options):
    """A fresh page at `url` in a context of its own; fails the test if the page throws.
    `before_goto(page)`: listeners to add before it loads."""
    context = browser.new_context(**context_options)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        if before_goto:
            before_goto(page)
        page.goto(url)
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser, stack):
    """A fresh laptop-sized page on the stack's web app."""
    with opened(browser, stack["web"].url, viewport={"width": 1280, "height": 1000}, accept_downloads=True) as page:
        yield page
