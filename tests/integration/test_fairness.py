"""Painters before bulk work, on the real server and model: one painter beside six explainers."""

import json
import subprocess
import sys

from bench import scale
from maskscope.processes import ROOT


def run_load(protocol, address, clients, seconds, warmup_s):
    out = subprocess.run([sys.executable, "-m", "bench.load", protocol, "--addr", address, "--clients", str(clients),
                          "--seconds", str(seconds), "--warmup-s", str(warmup_s)], cwd=ROOT, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_painter_stays_fast_while_six_clients_explain_and_every_map_completes(model_dir, tmp_path):
    """The bench's fairness figure (bar 2.5x, docs/benchmarks.md), here with a generous margin:
    served first come first served, the painter would wait behind every queued occluded copy
    (tens of times its own latency)."""
    figures = scale.fairness(model_dir, ROOT / "build" / "bench" / "samples", run_load, explainers=6,
                             alone_s=3.0, beside_s=6.0, build=tmp_path)
    assert figures["painter_errors"] == 0 and figures["map_errors"] == 0
    assert figures["maps"] >= 6, f"every explainer's maps completed: {figures}"
    assert figures["beside_p50_ms"] <= 5 * figures["alone_p50_ms"], figures
