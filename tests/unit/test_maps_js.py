"""The page's map arithmetic (static/js/maps.js), run in Node: coverage, your map, agreement."""

import json
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node (on every CI machine)")


def run_js(body: str):
    script = f"import * as maps from {json.dumps((ROOT / 'web_client/static/js/maps.js').as_uri())};\n" \
             f"const out = (() => {{ {body} }})();\nconsole.log(JSON.stringify(out));"
    result = subprocess.run([NODE, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_coverage_is_the_painted_fraction_per_block():
    out = run_js("""
      const w = 8, h = 4, rgba = new Uint8ClampedArray(w * h * 4);
      for (let y = 0; y < h; y++) for (let x = 0; x < 2; x++) rgba[(y * w + x) * 4 + 3] = 255;
      const c = maps.coverage(rgba, w, h, 4);
      return [c.width, c.height, Array.from(c.data)];""")
    assert out == [4, 2, [1, 0, 0, 0, 1, 0, 0, 0]]


def test_your_map_puts_each_strokes_drop_where_it_painted_and_agreement_reads_it():
    out = run_js("""
      const geometry = {rows: 2, cols: 2, crop: {left: 0, top: 0, right: 2, bottom: 2}, imageWidth: 2, imageHeight: 2};
      const cov = (d) => ({width: 2, height: 2, data: Float32Array.from(d)});
      const steps = [{coverage: cov([0, 0, 0, 0]), p: 0.9},
                     {coverage: cov([1, 0, 0, 0]), p: 0.3},   // painting the top-left cell cost 0.6
                     {coverage: cov([1, 1, 0, 0]), p: 0.2},   // the top-right one 0.1 more
                     {coverage: cov([1, 1, 1, 0]), p: null}]; // unknown: ignored
      const mine = Array.from(maps.userMap(steps, geometry));
      return {mine, same: maps.agreement(mine, [0.5, 0.1, 0, 0]), opposite: maps.agreement(mine, [0, 0.2, 0.4, 0.6]),
              flat: maps.agreement([0, 0, 0, 0], [1, 2, 3, 4])};""")
    assert out["mine"] == pytest.approx([0.6, 0.1, 0, 0], abs=1e-6)
    assert out["same"] > 0.95 and out["opposite"] < 0 and out["flat"] is None


def test_erasing_gives_nothing_and_cells_outside_the_crop_are_ignored():
    out = run_js("""
      const geometry = {rows: 1, cols: 2, crop: {left: 0, top: 0, right: 2, bottom: 1}, imageWidth: 3, imageHeight: 1};
      const cov = (d) => ({width: 3, height: 1, data: Float32Array.from(d)});
      return Array.from(maps.userMap([{coverage: cov([1, 0, 0]), p: 0.9},
                                      {coverage: cov([0, 0, 0]), p: 0.5},   // erasing the left cell: no credit
                                      {coverage: cov([0, 1, 0]), p: 0.2},   // painting the right cell: 0.3
                                      {coverage: cov([0, 1, 1]), p: 0.1}],  // outside the crop: nowhere
                                     geometry));""")
    assert out == pytest.approx([0, 0.3], abs=1e-6)


def test_a_step_painted_on_an_older_mask_is_compared_with_that_mask():
    out = run_js("""
      const geometry = {rows: 1, cols: 2, crop: {left: 0, top: 0, right: 2, bottom: 1}, imageWidth: 2, imageHeight: 1};
      const cov = (d) => ({width: 2, height: 1, data: Float32Array.from(d)});
      // 0: nothing painted; 1: left painted; then the user brings back step 0 and paints the right.
      const steps = [{coverage: cov([0, 0]), p: 0.8}, {coverage: cov([1, 0]), p: 0.5, parent: 0},
                     {coverage: cov([0, 1]), p: 0.7, parent: 0}];
      return Array.from(maps.userMap(steps, geometry));""")
    assert out == pytest.approx([0.3, 0.1], abs=1e-6)  # not "erased the left, painted the right: +0.2"
