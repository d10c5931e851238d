"""Study conditions on a phone (touch), against the real servers: one participant of each of four
conditions goes through a short study, and each page shows only what its condition allows (the
painting tools, the Classify button, "where does the model look?"), a forbidden event is refused
by the API, and the export holds each participant's condition and nothing their page did not offer."""

import json
import urllib.error
import urllib.request

import pytest

from tests.browser.test_devices import press, shot, stroke, to_page
from tests.browser.test_study import TOKEN, admin, participant_page, stack, wait_text  # noqa: F401 (stack: a fixture)

STUDY = {"id": "conditions", "title": "Which help?", "consent": "I agree to take part.", "photos": ["coffee"],
         "conditions": [{"name": "paint"}, {"name": "paint+map", "map": True},
                        {"name": "map", "paint": False, "map": True}, {"name": "none", "paint": False}],
         "assignment": {"seed": 28},
         "steps": [{"kind": "explore", "minutes": 1},
                   {"kind": "question", "id": "painting", "text": "Painting helped me", "only": ["paint", "paint+map"]}]}
# What each condition's explore page shows: the painting tools (undo, clear), Classify, the map button.
SHOWN = {"paint": (True, True, False), "paint+map": (True, True, True), "map": (False, False, True),
         "none": (False, False, False)}


def api(stack, path, body=None):
    request = urllib.request.Request(stack["web"].url + path.lstrip("/"), data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def visible(page, selector) -> bool:
    return page.locator(selector).is_visible()


def test_one_participant_of_each_condition_sees_only_what_it_allows(browser, stack):
    assert admin(stack, "/api/admin/studies", json.dumps(STUDY).encode())["link"] == "/study/conditions"
    seen = {}
    for _ in range(4):  # the first block: one participant of each condition, in the seed's order
        with participant_page(browser, stack, "conditions") as page:
            wait_text(page, "#consent-text", "I agree to take part.")
            sent = []  # what the page itself asks of the API: nothing its condition refuses
            page.on("request", lambda r: sent.append(r.post_data_json.get("kind")) if r.url.endswith("/events") else None)
            page.on("response", lambda r: sent.append(r.status) if "/api/study/" in r.url else None)
            press(page, "[data-action=agree]")
            participant = page.evaluate(
                "() => Object.entries(localStorage).find(([k]) => k.includes('conditions'))[1]")
            base = f"/api/study/conditions/participants/{participant}"
            name = api(stack, base)[1]["condition"]["name"]
            paints, classifies, maps = SHOWN[name]
            wait_text(page, "#study-progress", f"Step 1 of {2 if paints else 1}")  # their own steps only
            page.wait_for_function("() => document.querySelector('#canvas').dataset.place", timeout=20_000)
            if not paints:  # the model's answer for the photo itself, with no button to ask for it
                wait_text(page, "#answer", "The model says: espresso")
            assert (visible(page, "[data-action=undo]"), visible(page, "[data-action=clear]"),
                    visible(page, "[data-action=classify]"), visible(page, "[data-action=show-map]")) == (
                paints, paints, classifies, maps), name
            assert visible(page, "#task-tools") == (paints or maps), name
            assert ("paint over the photo" in page.locator("#task-title").inner_text()) == paints, name
            # Across the cup: paint where painting is allowed, nothing where it is not. (Without
            # painting, a finger's swipe over the photo is the page's to scroll: the mouse's drag
            # there is the same attempt to paint, and leaves the test's touch sequence alone.)
            for y in (150, 250):
                start, end = to_page(page, 130, y), to_page(page, 470, y)
                if paints:
                    stroke(page, start, end)
                else:
                    page.mouse.move(*start)
                    page.mouse.down()
                    page.mouse.move(*end, steps=8)
                    page.mouse.up()
            if classifies:
                press(page, "[data-action=classify]")
                wait_text(page, "#answer", "The model says:")
            if maps:
                press(page, "[data-action=show-map]")
                wait_text(page, "#answer", "Bright: where hiding the photo costs", timeout_ms=90_000)
            # What the page does not offer, the API refuses too.
            forbidden = ({"kind": "stroke", "step": 0, "payload": {"photo": 0, "strokes": 1}} if not paints
                         else {"kind": "map-view", "step": 0, "payload": {"photo": 0, "label": "espresso"}})
            if not (paints and maps):
                status, body = api(stack, base + "/events", forbidden)
                assert (status, body["code"]) == (403, "NotInCondition"), (name, body)
            shot(page, f"study-condition-{name.replace('+', '-and-')}")
            press(page, "[data-action=next]")
            if paints:  # the question only the painting conditions see
                wait_text(page, "#study-progress", "Step 2 of 2")
                press(page, "#likert-options label:nth-child(4)")
                press(page, "[data-action=next]")
            page.wait_for_selector("#done:not([hidden])", timeout=20_000)
            assert ("stroke" in sent) == paints and not {403, 409, 400} & set(sent), (name, sent)
            seen[name] = participant
    assert set(seen) == set(SHOWN)

    events = admin(stack, "/api/admin/studies/conditions/events.json")
    by = {name: [e for e in events if e["participant_id"] == pid] for name, pid in seen.items()}
    for name, theirs in by.items():
        paints, classifies, maps = SHOWN[name]
        kinds = [e["kind"] for e in theirs]
        assert {e["condition"] for e in theirs} == {name}
        assert (kinds.count("stroke") == 2) == paints and ("stroke" in kinds) == paints, (name, kinds)
        assert ("map-view" in kinds) == maps and ("answer" in kinds) == paints and kinds[-1] == "finish", (name, kinds)
        classified = [e["payload"] for e in theirs if e["kind"] == "classify"]
        assert classified and all(bool(c["mask"]) == paints for c in classified), name  # never a painted photo
    assert all(e["step"] in (0, 1, 2) for e in events)  # numbered in the study's whole list: finish is 2
    people = admin(stack, "/api/admin/studies/conditions/participants.json")
    assert sorted(p["number"] for p in people) == [0, 1, 2, 3]
