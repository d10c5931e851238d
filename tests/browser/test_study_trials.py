"""Simulation trials on a phone (touch), against the real servers: one participant does a forward
and a counterfactual trial. The page shows the photo and the choices, the confidence scale once a
choice is made, and never the model's answer before the answer is stored: no response the page
receives before it holds the model's class (a forward trial), and nothing on screen says it. Then
the researcher's page shows the simulation table of a small fixed dataset (tests/study/fixed_trials.py)
with the figures worked out by hand."""

import json

from tests.browser.test_devices import press
from tests.browser.test_page import SCREENSHOTS
from tests.browser.test_study import TOKEN, admin, participant_page, stack, wait_text  # noqa: F401 (stack: a fixture)
from tests.study import fixed_trials
from web_client.study.store import Store, engine_for

STUDY = {"id": "trials", "title": "Can you predict it?", "consent": "I agree to take part.", "photos": ["coffee"],
         "labels": {"rocket": "missile"},
         "steps": [{"kind": "forward", "phase": "pre", "photos": ["rocket"]},
                   {"kind": "counterfactual", "phase": "post", "photos": ["chelsea"]}]}


def choose(page, name, value=None):
    """Taps a radio button of `name` (the first, or the one of `value`)."""
    selector = f"input[name={name}]" + (f"[value='{value}']" if value is not None else "")
    press(page, f"{selector} >> nth=0")


def test_a_participant_does_a_forward_and_a_counterfactual_trial_on_a_phone(browser, stack):
    admin(stack, "/api/admin/studies", json.dumps(STUDY).encode())
    with participant_page(browser, stack, "trials") as page:
        received = []  # every response body from the study API, in order, and when it came
        page.on("response", lambda r: received.append((r.url, r.text())) if "/api/" in r.url else None)
        wait_text(page, "#consent-text", "I agree to take part.")
        press(page, "[data-action=agree]")
        wait_text(page, "#task-title", "Which class will the model say?")
        page.wait_for_selector("input[name=trial-choice]")
        choices = page.eval_on_selector_all("input[name=trial-choice]", "(els) => els.map((e) => e.value)")
        assert "missile" in choices and 3 <= len(choices) <= 4
        assert page.locator("#trial-image").is_visible() and page.locator("#trial-image").evaluate(
            "(img) => img.complete && img.naturalWidth > 0 && img.getBoundingClientRect().right <= innerWidth")
        assert not page.locator("#trial-confidence").is_visible()  # the scale comes after a choice
        assert not page.locator("#canvas").is_visible() and not page.locator("#task-tools").is_visible()
        choose(page, "trial-choice", choices[0])
        assert page.locator("#trial-confidence").is_visible()
        choose(page, "trial-confidence", 4)
        before_answer = [body for _, body in received]
        press(page, "[data-action=next]")
        wait_text(page, "#trial-text", "will the model still say")
        rows = admin(stack, "/api/admin/studies/trials/trials.json")
        model_label = rows[0]["model_label"]
        text = page.locator("main").inner_text()
        assert rows[0]["choice"] == choices[0] and rows[0]["confidence"] == 4
        # Before the forward answer was stored nothing the page received named the model's class
        # apart from the candidates list itself: no "model_label", no top class, no answer.
        assert not any("model_label" in body or "predictions" in body for body in before_answer)
        label = page.locator("#trial-text").inner_text()
        assert model_label not in text or model_label in choices  # only as one of the choices offered
        choose(page, "trial-choice", "no")
        choose(page, "trial-confidence", 2)
        press(page, "[data-action=next]")
        wait_text(page, "#done-text", "You have finished")
    rows = admin(stack, "/api/admin/studies/trials/trials.json")
    assert [(r["kind"], r["phase"], r["choice"], r["confidence"]) for r in rows] == [
        ("forward", "pre", choices[0], 4), ("counterfactual", "post", "no", 2)]
    assert "will the model still say" in label and rows[1]["ms"] > 0


def test_the_summary_page_shows_each_condition_phase_and_interval_of_the_simulation(browser, stack):
    admin(stack, "/api/admin/studies", json.dumps(fixed_trials.STUDY).encode())
    web_args = stack["web"].process.args  # the web app's own database: the trials are written into it
    fixed_trials.record_trials(Store(engine_for(web_args[web_args.index("--database-url") + 1])))
    researcher = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        researcher.goto(stack["web"].url + f"admin/studies/{fixed_trials.STUDY['id']}")
        researcher.fill("#token", TOKEN)
        researcher.click("button[type=submit]")
        researcher.wait_for_selector("#simulation-rows tr", timeout=60_000)
        table = researcher.eval_on_selector_all(
            "#simulation-rows tr", "(rows) => rows.map((r) => [...r.cells].map((c) => c.textContent))")
        researcher.screenshot(path=str(SCREENSHOTS / "study-admin-simulation.png"), full_page=True)
    finally:
        researcher.close()
    # Every condition, both phases, each split with trials (the summary's keys in order: none, paint).
    assert [row[:4] for row in table] == [
        [condition, phase, split, trials] for condition, counts in (("none", ("6", "2", "2", "4", "2", "2")),
                                                                     ("paint", ("6", "2", "2", "3", "1", "2")))
        for (phase, split), trials in zip([(p, s) for p in ("pre", "post")
                                           for s in ("all trials", "model right", "model wrong")], counts)]
    rows = {tuple(row[:3]): row[4:] for row in table}
    # accuracy [interval], confidence [interval], accuracy by confidence, utility against the control.
    assert rows["paint", "post", "all trials"] == ["50% [0%–100%]", "3.8 [3.0–4.5]",
                                                   "3: 0% (1), 4: 100% (1), 5: 100% (1)", "25% [-50%–100%]"]
    assert rows["paint", "post", "model right"] == ["100%", "5.0", "5: 100% (1)", ""]  # one participant: no interval
    assert rows["paint", "pre", "all trials"] == ["33% [0%–67%]", "2.0 [2.0–2.0]",
                                                  "1: 0% (2), 2: 50% (2), 3: 50% (2)", ""]
    assert rows["none", "post", "all trials"] == ["25% [0%–50%]", "3.0 [2.0–4.0]",
                                                  "2: 50% (2), 3: 0% (1), 5: 0% (1)", ""]  # the control: no utility
