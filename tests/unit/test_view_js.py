"""The photo's placement at a zoom (static/js/view.js), in Node: pinch, wheel and pan keep the
photo point under the fingers where it is, and the photo on the canvas."""

import pytest

from tests.js import needs_node, run_js

pytestmark = needs_node


def test_the_fitted_photo_is_centred_on_the_canvas():
    assert run_js("view.js", "return m.layout(m.fitted(600, 400), 600, 400, 300, 300);") == {"scale": 0.5, "x": 0, "y": 50}


def test_zooming_around_a_point_keeps_the_photo_point_under_it():
    out = run_js("view.js", """
      const place0 = m.layout(m.fitted(600, 400), 600, 400, 300, 300);
      const p0 = m.toPhoto(place0, 210, 120);
      const view = m.zoomAround(m.fitted(600, 400), 3, 210, 120, 600, 400, 300, 300);
      const p1 = m.toPhoto(m.layout(view, 600, 400, 300, 300), 210, 120);
      return {zoom: view.zoom, p0, p1};""")
    assert out["zoom"] == 3
    assert out["p1"] == pytest.approx(out["p0"], abs=1e-9)


def test_a_pinch_follows_the_fingers_and_a_pan_never_leaves_the_canvas_empty():
    out = run_js("view.js", """
      const start = m.fitted(600, 400);
      const view = m.pinch(start, {x: 100, y: 150}, {x: 200, y: 150}, {x: 50, y: 150}, {x: 250, y: 150}, 600, 400, 300, 300);
      const far = m.panBy(view, 10000, 10000, 600, 400, 300, 300);
      const place = m.layout(far, 600, 400, 300, 300);
      return {zoom: view.zoom, mid: m.toPhoto(m.layout(view, 600, 400, 300, 300), 150, 150),
              corner: [place.x, place.y], tooFar: m.clamp({zoom: 20, cx: -5, cy: 9999}, 600, 400, 300, 300).zoom};""")
    assert out["zoom"] == pytest.approx(2)  # the fingers twice as far apart
    assert out["mid"] == pytest.approx([300, 200])  # the middle of the photo stays under their middle
    assert out["corner"] == [0, 0], "panned as far as it goes: the photo's corner at the canvas's"
    assert out["tooFar"] == 8
