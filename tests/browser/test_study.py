"""A participant goes through a three-step study on a phone (touch), against the real servers and
a real database: what they did is exactly what the export holds, and the summary shows how their
map moved toward the model's; a reload within a step goes on where it was."""

import json
import urllib.request
from contextlib import contextmanager

import pytest

from tests.browser.test_devices import DEVICES, RECORD_MASKS, Fingers, press, shot, stroke, to_page
from tests.browser.conftest import opened, serving
from tests.browser.test_page import SCREENSHOTS

TOKEN = "browser-admin-token"
STUDY = {"id": "phone-study", "title": "What does the classifier look at?", "consent": "I agree to take part.",
         "photos": ["coffee"], "steps": [{"kind": "before", "task": "paint"}, {"kind": "explore", "map": True, "minutes": 3},
                                         {"kind": "after", "task": "paint"}]}


@pytest.fixture(scope="module")
def stack(model_dir, tmp_path_factory):
    database = tmp_path_factory.mktemp("study") / "study.db"
    with serving(model_dir, "--database-url", f"sqlite:///{database}", env={"MASKSCOPE_ADMIN_TOKEN": TOKEN}) as stack:
        yield stack


def admin(stack, path, body=None):
    request = urllib.request.Request(stack["web"].url + path.lstrip("/"), data=body,
                                     headers={"Authorization": f"Bearer {TOKEN}"}, method="POST" if body else "GET")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def wait_text(page, selector, text, timeout_ms=20_000):
    page.wait_for_function("([s, t]) => document.querySelector(s).textContent.includes(t)", arg=[selector, text],
                           timeout=timeout_ms)


def paint_rows(page, rows):
    for y in rows:
        stroke(page, to_page(page, 130, y), to_page(page, 470, y))


@contextmanager
def participant_page(browser, stack, study_id: str):
    """The study's page on a phone with touch, as a participant opens it."""
    def prepare(page):
        page.device, page.fingers = "phone", Fingers(page)

    with opened(browser, stack["web"].url + f"study/{study_id}", init_script=RECORD_MASKS, before_goto=prepare,
                **DEVICES["phone"]) as page:
        yield page


def test_a_participant_on_a_phone_then_the_dataset_and_summary(browser, stack):
    assert admin(stack, "/api/admin/studies", json.dumps(STUDY).encode())["link"] == "/study/phone-study"

    with participant_page(browser, stack, "phone-study") as page:
        wait_text(page, "#consent-text", "I agree to take part.")
        shot(page, "study-1-consent")
        press(page, "[data-action=agree]")

        wait_text(page, "#study-progress", "Step 1 of 3")  # before: they think the sky matters
        page.wait_for_function("() => document.querySelector('#canvas').dataset.place", timeout=20_000)
        paint_rows(page, (20, 50))
        press(page, "[data-action=next]")

        wait_text(page, "#study-progress", "Step 2 of 3")  # explore: hiding the cup changes the answer
        wait_text(page, "#task-help", "Take about 3 minutes.")
        press(page, "[data-action=classify]")
        wait_text(page, "#answer", "espresso")
        press(page, "[data-action=show-map]")  # this step shows the model's map
        wait_text(page, "#answer", "Bright: where hiding the photo costs", timeout_ms=60_000)
        shot(page, "study-2-explore-map")
        paint_rows(page, (90, 150, 210, 270, 330))
        forgotten = []  # the service forgets the photo once (a restart): the page sends it again

        def forget_once(route):
            if not forgotten and b'name="image_id"' in (route.request.post_data_buffer or b""):
                forgotten.append(route.request.url)
                return route.fulfill(status=404, content_type="application/json",
                                     body=json.dumps({"error": "no image with that id", "code": "NOT_FOUND"}))
            return route.continue_()
        page.route("**/classify", forget_once)
        press(page, "[data-action=classify]")
        page.wait_for_function("() => !document.querySelector('#answer').textContent.includes('espresso (9')",
                               timeout=20_000)
        assert forgotten
        press(page, "[data-action=next]")

        wait_text(page, "#study-progress", "Step 3 of 3")  # after: now they paint the cup
        paint_rows(page, (90, 150, 210, 270, 330))
        press(page, "[data-action=next]")
        page.wait_for_selector("#done:not([hidden])", timeout=20_000)
        shot(page, "study-3-done")
        page.reload()  # a finished participant cannot do it again
        page.wait_for_selector("#done:not([hidden])", timeout=20_000)

    events = admin(stack, "/api/admin/studies/phone-study/events.json")
    assert len({e["participant_id"] for e in events}) == 1
    assert [(e["kind"], e["step"]) for e in events] == [
        ("consent", 0), ("step-start", 0), *[("stroke", 0)] * 2, ("map", 0), ("step-end", 0),
        ("step-start", 1), ("classify", 1), ("map-view", 1), *[("stroke", 1)] * 5, ("classify", 1), ("step-end", 1),
        ("step-start", 2), *[("stroke", 2)] * 5, ("map", 2), ("step-end", 2), ("finish", 3)]
    classified = [e["payload"] for e in events if e["kind"] == "classify"]
    assert classified[0]["predictions"][0]["label"] == "espresso" and not classified[0]["mask"]
    espresso = [next((p["probability"] for p in c["predictions"] if p["label"] == "espresso"), 0) for c in classified]
    assert classified[1]["mask"] and espresso[1] < espresso[0]  # the cup hidden
    strokes = [e["payload"] for e in events if e["kind"] == "stroke"]
    assert [s["strokes"] for s in strokes] == [1, 2, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    assert strokes[6]["painted"] > strokes[2]["painted"] > 0
    assert next(e for e in events if e["kind"] == "map-view")["payload"] == {"photo": "coffee", "label": "espresso"}
    steps = admin(stack, "/api/admin/studies/phone-study/steps.json")
    explored = next(s for s in steps if s["step"] == 1)
    assert explored["map_views"] == 1 and 0 < explored["first_map_view_s"] < explored["seconds"]
    summary = admin(stack, "/api/admin/studies/phone-study/summary.json")
    (row,) = summary["participants"]
    assert row["finished"] and row["before_agreement"] < row["after_agreement"], row
    assert summary["overall"]["moved_toward_the_model"] == 1

    # The researcher's summary page: a wrong token is refused, the right one shows the figures.
    researcher = browser.new_page(viewport={"width": 1280, "height": 800})
    researcher.goto(stack["web"].url + "admin/studies/phone-study")
    researcher.fill("#token", "wrong")
    researcher.click("button[type=submit]")
    wait_text(researcher, "#error", "admin token")
    researcher.fill("#token", TOKEN)
    researcher.click("button[type=submit]")
    wait_text(researcher, "#overall", "1 of 1 moved toward the model")
    overall = summary["overall"]
    assert f"IoU before {overall['before_iou']:.2f}, after {overall['after_iou']:.2f}" in \
        researcher.locator("#overall").inner_text()
    assert researcher.locator("#slopes line.slope.up").count() == 1
    assert researcher.locator("#rows tr").count() == 1
    researcher.click("[data-action=faithfulness]")
    wait_text(researcher, "#faithfulness", "The model's own maps: coffee 0.", timeout_ms=120_000)
    before, after = (float(researcher.locator("#rows td").nth(i).inner_text()) for i in (7, 8))
    researcher.screenshot(path=str(SCREENSHOTS / "study-admin-laptop.png"), full_page=True)
    assert after < before, (before, after)  # hiding the cup first loses the espresso sooner than the sky
    researcher.close()


def test_a_reload_within_a_step_goes_on_from_the_photo_it_was_on(browser, stack):
    two = {**STUDY, "id": "two-photos", "photos": ["coffee", "chelsea"], "steps": [{"kind": "before", "task": "paint"}]}
    admin(stack, "/api/admin/studies", json.dumps(two).encode())

    with participant_page(browser, stack, "two-photos") as page:
        press(page, "[data-action=agree]")
        wait_text(page, "#task-help", "Photo 1 of 2.")
        page.wait_for_function("() => document.querySelector('#canvas').dataset.place", timeout=20_000)
        paint_rows(page, (20, 50))
        press(page, "[data-action=next]")
        wait_text(page, "#task-help", "Photo 2 of 2.")
        page.reload()
        wait_text(page, "#task-help", "Photo 2 of 2.")  # not photo 1 again
        page.wait_for_function("() => document.querySelector('#canvas').dataset.place", timeout=20_000)
        paint_rows(page, (90,))
        press(page, "[data-action=next]")
        page.wait_for_selector("#done:not([hidden])", timeout=20_000)
    events = admin(stack, "/api/admin/studies/two-photos/events.json")
    assert [e["payload"]["photo"] for e in events if e["kind"] == "map"] == ["coffee", "chelsea"]


def test_a_step_whose_answers_are_in_but_whose_end_was_lost_ends_on_reload(browser, stack):
    """The page went away between a step's last answer and its end: a reload goes on, not stuck
    on a photo the store will not take twice."""
    one = {**STUDY, "id": "lost-end", "steps": [{"kind": "before", "task": "paint"}, {"kind": "after", "task": "paint"}]}
    admin(stack, "/api/admin/studies", json.dumps(one).encode())

    with participant_page(browser, stack, "lost-end") as page:
        press(page, "[data-action=agree]")
        wait_text(page, "#study-progress", "Step 1 of 2")
        participant = page.evaluate("() => Object.entries(localStorage).find(([k]) => k.includes('lost-end'))[1]")
        events = f"{stack['web'].url}api/study/lost-end/participants/{participant}/events"
        answer = json.dumps({"kind": "map", "step": 0, "payload": {"photo": 0, "mask": ""}}).encode()
        urllib.request.urlopen(urllib.request.Request(events, answer, {"Content-Type": "application/json"}), timeout=30)
        page.reload()  # the map is in; the step-end never came
        wait_text(page, "#study-progress", "Step 2 of 2")
        page.wait_for_function("() => document.querySelector('#canvas').dataset.place", timeout=20_000)
        paint_rows(page, (90,))
        press(page, "[data-action=next]")
        page.wait_for_selector("#done:not([hidden])", timeout=20_000)
    kinds = [(e["kind"], e["step"]) for e in admin(stack, "/api/admin/studies/lost-end/events.json")]
    assert kinds.count(("step-end", 0)) == 1 and kinds.count(("map", 0)) == 1 and kinds[-1] == ("finish", 2)
