"""The page's map arithmetic (static/js/maps.js), run in Node: coverage, your map, agreement, colours."""

import pytest

from tests.js import needs_node, run_js

pytestmark = needs_node


def test_coverage_is_the_painted_fraction_per_block():
    out = run_js("maps.js", """
      const w = 8, h = 4, rgba = new Uint8ClampedArray(w * h * 4);
      for (let y = 0; y < h; y++) for (let x = 0; x < 2; x++) rgba[(y * w + x) * 4 + 3] = 255;
      const c = m.coverage(rgba, w, h, 4);
      return [c.width, c.height, Array.from(c.data)];""")
    assert out == [4, 2, [1, 0, 0, 0, 1, 0, 0, 0]]


def test_your_map_puts_each_strokes_drop_where_it_painted_and_agreement_reads_it():
    out = run_js("maps.js", """
      const geometry = {rows: 2, cols: 2, crop: {left: 0, top: 0, right: 2, bottom: 2}, imageWidth: 2, imageHeight: 2};
      const cov = (d) => ({width: 2, height: 2, data: Float32Array.from(d)});
      const steps = [{coverage: cov([0, 0, 0, 0]), p: 0.9},
                     {coverage: cov([1, 0, 0, 0]), p: 0.3},   // painting the top-left cell cost 0.6
                     {coverage: cov([1, 1, 0, 0]), p: 0.2},   // the top-right one 0.1 more
                     {coverage: cov([1, 1, 1, 0]), p: null}]; // unknown: ignored
      const mine = Array.from(m.userMap(steps, geometry));
      return {mine, same: m.agreement(mine, [0.5, 0.1, 0, 0]), opposite: m.agreement(mine, [0, 0.2, 0.4, 0.6]),
              flat: m.agreement([0, 0, 0, 0], [1, 2, 3, 4])};""")
    assert out["mine"] == pytest.approx([0.6, 0.1, 0, 0], abs=1e-6)
    assert out["same"] > 0.95 and out["opposite"] < 0 and out["flat"] is None


def test_erasing_gives_nothing_and_cells_outside_the_crop_are_ignored():
    out = run_js("maps.js", """
      const geometry = {rows: 1, cols: 2, crop: {left: 0, top: 0, right: 2, bottom: 1}, imageWidth: 3, imageHeight: 1};
      const cov = (d) => ({width: 3, height: 1, data: Float32Array.from(d)});
      return Array.from(m.userMap([{coverage: cov([1, 0, 0]), p: 0.9},
                                      {coverage: cov([0, 0, 0]), p: 0.5},   // erasing the left cell: no credit
                                      {coverage: cov([0, 1, 0]), p: 0.2},   // painting the right cell: 0.3
                                      {coverage: cov([0, 1, 1]), p: 0.1}],  // outside the crop: nowhere
                                     geometry));""")
    assert out == pytest.approx([0, 0.3], abs=1e-6)


def test_a_step_painted_on_an_older_mask_is_compared_with_that_mask():
    out = run_js("maps.js", """
      const geometry = {rows: 1, cols: 2, crop: {left: 0, top: 0, right: 2, bottom: 1}, imageWidth: 2, imageHeight: 1};
      const cov = (d) => ({width: 2, height: 1, data: Float32Array.from(d)});
      // 0: nothing painted; 1: left painted; then the user brings back step 0 and paints the right.
      const steps = [{coverage: cov([0, 0]), p: 0.8}, {coverage: cov([1, 0]), p: 0.5, parent: 0},
                     {coverage: cov([0, 1]), p: 0.7, parent: 0}];
      return Array.from(m.userMap(steps, geometry));""")
    assert out == pytest.approx([0.3, 0.1], abs=1e-6)  # not "erased the left, painted the right: +0.2"


def test_the_maps_colour_scale_runs_dark_to_yellow_and_is_never_the_paints_pink():
    out = run_js("maps.js", """
      const px = m.heatPixels([0, 0.5, 1], 1, 3);
      return {low: m.mapColour(0), high: m.mapColour(1), alpha: [px[3], px[7], px[11]], mid: Array.from(px.slice(4, 7)),
              gradient: m.mapGradient()};""")
    assert out["low"] == [68, 1, 84] and out["high"] == [253, 231, 37]
    assert out["alpha"][0] == 0 and out["alpha"][1] < out["alpha"][2], "nothing where hiding costs nothing"
    r, g, b = out["mid"]
    assert not (r > 200 and g < 100 and b > 80), "pink is the paint's colour"
    assert out["gradient"].startswith("linear-gradient(to right, rgb(68,1,84)")


def test_mask_artifact_classes_are_imagenets_only():
    out = run_js("maps.js", """
      return [m.maskArtifact(611, "imagenet-1k"), m.maskArtifact(611, ""), m.maskArtifact(967, "imagenet-1k")];""")
    assert out == ["jigsaw puzzle", None, None]


def test_the_share_of_the_crop_a_mask_hides_counts_only_inside_the_crop():
    out = run_js("maps.js", """
      const w = 4, h = 2, rgba = new Uint8ClampedArray(w * h * 4);
      for (const i of [0, 1, 5]) rgba[i * 4 + 3] = 255;  // (0,0) (1,0) outside-left half, (1,1) inside
      return [m.cropShare(rgba, w, h, [1, 0, 3, 2]), m.cropShare(rgba, w, h, [0.4, 0, 2.4, 1]),
              m.cropShare(new Uint8ClampedArray(w * h * 4), w, h, [0, 0, 4, 2])];""")
    assert out == [0.5, 1.0, 0]
