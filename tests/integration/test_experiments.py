"""`make experiments` end to end: a real server, every sample photo, the table and its images."""

import subprocess
import sys

from tests.conftest import ROOT


def test_experiments_write_the_table(model_dir, tmp_path):
    out = tmp_path / "experiments.md"
    result = subprocess.run([sys.executable, "-m", "experiments", "--model-dir", str(model_dir), "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "![](" in line]
    assert len(rows) == 7 and rows[0].startswith("| Coffee | ") and "**espresso**" in rows[0]
    assert any(row.startswith("| A temple in China | ") for row in rows), "a place, as in the paper"
    assert len(list((tmp_path / "experiments").glob("*.jpg"))) == 21
    assert "coffee: espresso" in result.stdout
