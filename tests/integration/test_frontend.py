"""inference_service/frontdoor/frontend.py: a front-end is started by `--workers` (its link to the
model process comes from there; tests/integration/test_workers.py runs them for real), and one
run by hand says so."""

import subprocess
import sys

from tests.conftest import ROOT


def test_a_front_end_run_by_hand_says_how_it_is_started():
    result = subprocess.run([sys.executable, "-m", "inference_service.frontdoor.frontend"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "--workers N" in result.stderr
