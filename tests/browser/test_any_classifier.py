"""The page on a classifier of its user's own (imported with `export onnx`: three classes, 96 px
input, not ImageNet's), beside Lite0: its labels shown and searchable, pinning, painting, the map."""

import subprocess
import sys

import pytest

from maskscope import session as sessions
from tests.browser.test_page import classify_and_read, paint_cup, pick_coffee, results, screenshot, set_brush
from tests.classifiers import LABELS
from tests.browser.conftest import serving
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def stack(imported_model_dir):
    with serving(imported_model_dir) as stack:
        yield stack


def choose_model(page, name):
    page.evaluate("() => { document.querySelector('#summary').textContent = ''; }")
    page.select_option("#model", name)
    page.wait_for_function(f"() => document.querySelector('#summary').textContent.startsWith('{name} says')",
                           timeout=20_000)


def test_explore_a_classifier_of_your_own(page, stack, tmp_path):
    assert pick_coffee(page)[0][0] == "espresso"
    assert page.locator("#model option").all_inner_texts() == ["efficientnet-lite0", *sorted(
        ["lesions", "lesions-baked", "lesions-fixed"])]
    choose_model(page, "lesions")
    opened = results(page)
    assert [label for label, _ in opened] and {label for label, _ in opened} == set(LABELS)
    assert page.locator("#labels option").evaluate_all("(os) => os.map((o) => o.value)") == list(LABELS)

    page.fill("#pin-search", "malignant")
    page.click("[data-action=pin]")
    assert page.locator("#pinned-name").inner_text() == "malignant"

    set_brush(page, 90)
    paint_cup(page)
    painted = classify_and_read(page)
    assert {label for label, _ in painted} == set(LABELS) and painted != opened
    assert page.locator("#artifact-warning").is_hidden()
    assert page.locator("#pinned-chart circle, #pinned-chart path, #pinned-chart polyline").count() > 0
    screenshot(page, "9-own-classifier")

    # The session the page saves replays, through the CLI, on the same classifier exported another way.
    with page.expect_download() as download:
        page.click("[data-action=export-json]")
    saved, replayed = tmp_path / "session.json", tmp_path / "replayed.json"
    download.value.save_as(saved)
    result = subprocess.run([sys.executable, "-m", "inference_service.client", "replay", str(saved), "--addr",
                             stack["inference"].address, "--model", "lesions-baked", "--json", str(replayed)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    recorded, steps = sessions.parse(saved.read_text()).steps, sessions.parse(replayed.read_text()).steps
    assert recorded[-1].predictions[0]["label"] == painted[0][0] and len(steps) == len(recorded)
    on_lesions = [(a, b) for a, b in zip(recorded, steps) if a.model == "lesions"]
    assert len(on_lesions) >= 2
    for a, b in on_lesions:  # the same graph, batched or one image per run: the same answers
        assert [p["label"] for p in a.predictions] == [p["label"] for p in b.predictions]
        assert [p["probability"] for p in a.predictions] == pytest.approx([p["probability"] for p in b.predictions],
                                                                          abs=1e-4)

    page.click("[data-action=explain]")
    page.wait_for_function("() => !document.querySelector('#show-map').disabled", timeout=60_000)
    assert page.locator("#explain-summary").inner_text().startswith("malignant: ")  # the pinned class's map

    # Back on Lite0, "malignant" (class 1) would be a goldfish: the pin goes, the search has ImageNet's classes.
    choose_model(page, "efficientnet-lite0")
    assert page.locator("#pinned").is_hidden()
    assert page.locator("#labels option").count() == 1000
