"""The page's region arithmetic (static/js/regions.js), in Node."""

from tests.js import needs_node, run_js

pytestmark = needs_node


def test_a_point_finds_its_region_and_a_region_its_pixels_and_outline():
    out = run_js("regions.js", """
      const labels = Uint8Array.from([0, 0, 1,  0, 2, 1]);  // 3 x 2
      const pixels = m.regionPixels(labels, 1, [9, 8, 7]);
      const outline = m.outlinePixels(labels, 3, 2);
      const mask = new Uint8ClampedArray(24); mask[2 * 4 + 3] = 255;  // one of region 1's two pixels painted
      return {at: [m.regionAt(labels, 3, 2, 2.5, 0.2), m.regionAt(labels, 3, 2, 1, 1), m.regionAt(labels, 3, 2, 3, 0)],
              alpha: Array.from({length: 6}, (_, i) => pixels[i * 4 + 3]), rgb: Array.from(pixels.slice(8, 11)),
              edges: Array.from({length: 6}, (_, i) => outline[i * 4 + 3] > 0),
              painted: m.paintedFraction(labels, mask, 1),
              fromPng: Array.from(m.labelsFromRgba(Uint8ClampedArray.from([5, 5, 5, 255, 7, 7, 7, 255])))};""")
    assert out["at"] == [1, 2, -1]
    assert out["alpha"] == [0, 0, 255, 0, 0, 255] and out["rgb"] == [9, 8, 7]
    assert out["edges"] == [False, True, False, True, True, False]
    assert out["painted"] == 0.5 and out["fromPng"] == [5, 7]
