"""experiments/faithfulness.py end to end: the randomised models exported, a real server, one photo,
the report written; and its pure parts."""

import numpy as np
import pytest

from experiments import faithfulness
from maskscope.processes import ROOT


def test_the_report_on_one_photo(model_dir, tmp_path):
    out = tmp_path / "faithfulness.md"
    assert faithfulness.main(["--model-dir", str(model_dir), "--photos", "coffee", "--fills", "gray,impute",
                              "--steps", "2", "--out", str(out), "--build", str(tmp_path / "build")]) == 0
    report = out.read_text()
    assert "## gray fill" in report and "## impute fill" in report
    rows = [line for line in report.splitlines() if line.startswith("| coffee (espresso")]
    assert len(rows) == 6  # model, backwards and random, for each fill
    model_gray = [float(v) for v in rows[0].split("|")[3:7]]
    assert model_gray[0] < model_gray[1] and model_gray[2] > model_gray[3]  # a faithful map, both ways
    sanity = next(line for line in report.splitlines() if line.startswith("| coffee | "))
    assert "flat (every drop 0)" in sanity  # every weight random: the answer never moves
    head = float(sanity.split("|")[3])
    assert abs(head) < 0.5  # the classifier layer random: another map


def test_rank_correlation_and_flat_maps():
    a = np.array([[0.1, 0.5], [0.2, 0.9]])
    assert faithfulness.rank_correlation(a, a * 3 + 1) == pytest.approx(1.0)
    assert faithfulness.rank_correlation(a, -a) == pytest.approx(-1.0)
    assert faithfulness.sanity(a, np.zeros_like(a)) == {"flat": True, "rank_correlation": None}
    assert faithfulness.sanity(a, a)["rank_correlation"] == pytest.approx(1.0)


def test_unknown_fills_and_photos_are_refused(capsys):
    for args, message in ((["--fills", "glitter"], "unknown fill(s) glitter"), (["--photos", "moon"], "unknown sample")):
        with pytest.raises(SystemExit):
            faithfulness.main(args + ["--out", str(ROOT / "build" / "never.md")])
        assert message in capsys.readouterr().err
