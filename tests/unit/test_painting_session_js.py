"""The painting page's session (static/js/painting_session.js), in Node: the photo and its id, the one
rule for a photo the service forgot, live frames, the offline retry, the pin, and the upload limit."""

import json

import pytest

from tests.js import needs_node, run_js

pytestmark = needs_node

# A session whose photo the service has classified once (the unpainted photo, with every class).
ANSWERED = """
  const s = new m.PaintingSession();
  const photo = {blob: {size: 10, type: "image/png"}, name: "coffee.png"};
  s.open(photo);
  const base = s.nextRequest(true);
  s.answeredBaseline(photo, {image_id: "id-1", predictions: [{class_index: 7, label: "cup", probability: 0.8},
    {class_index: 3, label: "mug", probability: 0.1}]}, base.sequence);
"""


@pytest.mark.parametrize("error, sent, expected", [
    ({"code": "NOT_FOUND"}, {"imageId": "id-1"}, True),
    ({"code": "NOT_FOUND"}, {"image": {}}, False),  # the photo itself went: an unknown model
    ({"code": "NOT_FOUND"}, {"imageId": "id-1", "image": {}}, False),  # api.js sends the photo then
    ({"code": "UNAVAILABLE"}, {"imageId": "id-1"}, False),
    ({"code": "NOT_FOUND"}, None, False),
], ids=["by-id", "itself", "itself-and-id", "other-error", "nothing-sent"])
def test_a_forgotten_photo_is_a_not_found_for_a_request_that_named_it_by_id(error, sent, expected):
    assert run_js("painting_session.js", f"return m.forgotten({json.dumps(error)}, {json.dumps(sent)});") is expected


def test_a_forgotten_photo_goes_itself_once_more_and_requests_sent_before_it_need_nothing_more():
    out = run_js("painting_session.js", ANSWERED + """
      const before = s.nextRequest(), byId = s.nextRequest();
      const again = s.forget(byId);             // the service forgot the photo: send it itself
      const resent = s.nextRequest();
      const older = s.forget(before);           // sent before the photo went again: its answer is coming
      s.answered(photo, {image_id: "id-1"});
      const after = s.nextRequest();
      return {byId: byId.imageId, again, resent: [Boolean(resent.image), resent.imageId ?? null], older,
              after: after.imageId, itself: Boolean(s.nextRequest(true).image)};""")
    assert out["byId"] == "id-1" and out["again"] is True
    assert out["resent"] == [True, None], "the request after a forgotten photo carries the photo itself"
    assert out["older"] is False
    assert out["after"] == "id-1", "its answer brings the id back"
    assert out["itself"], "the unpainted photo's classification always carries the photo"


def test_live_frames_wait_for_the_photo_sent_again_and_the_newest_goes_once_it_is_back():
    out = run_js("painting_session.js", """
      const s = new m.PaintingSession();
      const photo = {blob: {}, name: "p"};
      const none = s.liveMayGo(1, true);        // no photo yet
      s.open(photo);
      const noBaseline = s.liveMayGo(2, true);  // the unpainted photo's answer is still to come
      const heldBeforeBaseline = s.heldBack;
      s.answeredBaseline(photo, {image_id: "id", predictions: [{class_index: 0, label: "a", probability: 1}]}, 1);
      const goes = s.liveMayGo(100, false);
      const waitAt = [s.liveWait(150), s.liveWait(190), s.liveWait(250)];
      s.forget(s.nextRequest());
      const whileAway = [s.liveMayGo(300, false), s.liveMayGo(400, true), s.liveMayGo(500, false)];
      const held = s.answered(photo, {image_id: "id"});
      const heldAgain = s.answered(photo, {image_id: "id"});
      s.forget(s.nextRequest());
      s.liveMayGo(600, false);
      const frameOnly = s.answered(photo, {image_id: "id"});
      return {none, noBaseline, heldBeforeBaseline, goes, waitAt, whileAway, held, heldAgain, frameOnly,
              other: s.answered({blob: {}}, {image_id: "else"}), id: s.imageId};""")
    assert [out["none"], out["noBaseline"], out["heldBeforeBaseline"], out["goes"]] == [False, False, None, True]
    assert out["waitAt"] == [40, 0, -60], "at most one frame per LIVE_INTERVAL_MS (90)"
    assert out["whileAway"] == [False, False, False]
    assert out["held"] is True, "a stroke ended while the photo was away: the newest goes as final"
    assert out["heldAgain"] is None and out["frameOnly"] is False
    assert out["other"] is None and out["id"] == "id", "an answer about another photo changes nothing"


def test_a_new_photo_starts_over_without_the_last_ones_id_baseline_or_waiting_requests():
    out = run_js("painting_session.js", ANSWERED + """
      const live = s.nextRequest();
      s.requests.wait(live.sequence, {final: true});
      const next = {blob: {}, name: "next.png"};
      s.open(next);
      const first = s.nextRequest();
      return {id: s.imageId, baseline: s.baseline, waiting: s.requests.pending.size, first: Boolean(first.image),
              late: s.answered(photo, {image_id: "old"}), stillNone: s.imageId};""")
    assert out == {"id": None, "baseline": None, "waiting": 0, "first": True, "late": None, "stillNone": None}


def test_the_service_away_keeps_the_newest_retry_and_hands_it_back_once():
    out = run_js("painting_session.js", """
      const s = new m.PaintingSession();
      const watch = [s.wentAway("classify"), s.wentAway("live")];   // the second: already watching
      const offline = s.offline;
      const retry = s.cameBack();
      return {watch, offline, retry, then: s.cameBack(), online: !s.offline, again: s.wentAway("x")};""")
    assert out == {"watch": [True, False], "offline": True, "retry": "live", "then": None, "online": True,
                   "again": True}


def test_answers_follow_the_unpainted_photos_top_and_the_pin_which_follows_its_label_to_another_model():
    out = run_js("painting_session.js", ANSWERED + """
      const alone = s.tracked();
      s.pin(3, "mug");
      const both = s.tracked(), onBaseline = s.trackedOnBaseline();
      s.pin(7, "cup");
      const same = s.tracked();
      const kept = s.changeModel(["x", "y", "cup"]);
      const followed = s.pinned, baseline = s.baseline;
      const dropped = s.changeModel(["tench"]);
      return {alone, both, onBaseline, same, kept, followed, baseline, dropped, pinned: s.pinned,
              none: s.changeModel(["a"]), unpinned: s.trackedOnBaseline()};""")
    assert out["alone"] == [7] and out["both"] == [7, 3] and out["same"] == [7]
    assert out["onBaseline"] == [{"class_index": 3, "label": "mug", "probability": 0.1}]
    assert out["kept"] is False and out["followed"] == {"class_index": 2, "label": "cup"}
    assert out["baseline"] is None, "another model's answer to the unpainted photo is still to come"
    assert out["dropped"] is True and out["pinned"] is None and out["none"] is False and out["unpinned"] == []


def test_a_photo_is_refused_before_it_is_sent_when_it_is_not_an_image_or_over_the_web_apps_limit():
    out = run_js("painting_session.js", """
      const s = new m.PaintingSession();
      const big = {type: "image/jpeg", size: 20 * 2 ** 20};
      const unknown = s.refusal(big, "big.jpg");   // the limits not read (yet): the web app checks
      s.limits = {upload_bytes: 16 * 2 ** 20, live_message_bytes: 22 * 2 ** 20};
      return [unknown, s.refusal(big, "big.jpg"), s.refusal({type: "text/plain", size: 1}, "notes.txt"),
              s.refusal({type: "", size: 16 * 2 ** 20}, "exactly.png")];""")
    assert out[0] is None
    assert out[1] == '"big.jpg" is too large (20.0 MB); the limit is 16 MB.'
    assert "not an image" in out[2]
    assert out[3] is None, "a file of no type and exactly the limit goes (the web app decides)"
