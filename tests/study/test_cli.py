"""`python -m web_client.study`: load, list, export and delete on a SQLite file."""

import csv
import json
import subprocess
import sys

import yaml

from tests.conftest import ROOT
from tests.study import fixed_trials
from web_client.study.dataset import TRIAL_COLUMNS
from web_client.study.store import Store, engine_for

STUDY = {"id": "cli-study", "title": "t", "consent": "c", "photos": ["coffee"], "steps": [{"kind": "before"}]}


def run(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "web_client.study", "--database-url",
                           f"sqlite:///{tmp_path / 'study.db'}", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_load_list_export_delete(tmp_path):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(STUDY))
    assert "loaded cli-study: 1 steps" in run(tmp_path, "load", tmp_path / "s.yaml").stdout
    store = Store(engine_for(f"sqlite:///{tmp_path / 'study.db'}"))
    p = store.new_participant("cli-study")
    store.record(p.id, "cli-study", "consent", 0, {})
    assert "cli-study\t1 participants" in run(tmp_path, "list").stdout
    exported = json.loads(run(tmp_path, "export", "cli-study", "--format", "json").stdout)
    assert [e["kind"] for e in exported] == ["consent"] and exported[0]["condition"] == "all"
    joined = run(tmp_path, "export", "cli-study", "--table", "participants").stdout.splitlines()
    assert joined[0] == "participant_id,condition,number,joined_at,consented_at,step,finished_at"
    assert joined[1].startswith(f"{p.id},all,0,")
    refused = run(tmp_path, "delete", "cli-study")
    assert refused.returncode == 1 and "add --yes" in refused.stderr
    assert "deleted cli-study (1 events)" in run(tmp_path, "delete", "cli-study", "--yes").stdout
    assert run(tmp_path, "list").stdout.strip() == "no studies"


def test_a_bad_study_file_is_refused(tmp_path):
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**STUDY, "steps": [{"kind": "dance"}]}))
    result = run(tmp_path, "load", tmp_path / "bad.yaml")
    assert result.returncode == 1 and "kind 'dance'" in result.stderr
    unknown = run(tmp_path, "export", "nope")
    assert unknown.returncode == 1 and "no study 'nope'" in unknown.stderr


def test_the_trials_table_exports_one_row_per_trial_answered(tmp_path):
    (tmp_path / "trials.yaml").write_text(yaml.safe_dump(fixed_trials.STUDY))
    assert "loaded fixed-trials: 2 steps" in run(tmp_path, "load", tmp_path / "trials.yaml").stdout
    roles = fixed_trials.record_trials(Store(engine_for(f"sqlite:///{tmp_path / 'study.db'}")))
    expected = [(roles[name], step, photo, right, confidence) for name in roles
                for step, photo, right, confidence in fixed_trials.ANSWERS[name]]
    rows = json.loads(run(tmp_path, "export", "fixed-trials", "--table", "trials", "--format", "json").stdout)
    assert [(r["participant_id"], r["step"], r["photo"], r["correct"], r["confidence"]) for r in rows] == expected
    assert all(tuple(r) == TRIAL_COLUMNS for r in rows)
    china = next(r for r in rows if r["photo"] == "china")
    assert china["model_correct"] is None and china["true_label"] is None and china["hidden_by"] is None
    written = run(tmp_path, "export", "fixed-trials", "--table", "trials", "--out", tmp_path / "trials.csv")
    assert written.stdout.strip() == f"wrote {len(expected)} rows to {tmp_path / 'trials.csv'}"
    with open(tmp_path / "trials.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert tuple(table[0]) == TRIAL_COLUMNS
    assert [(r["participant_id"], int(r["step"]), r["photo"], r["correct"], int(r["confidence"])) for r in table] == [
        (pid, step, photo, str(right), confidence) for pid, step, photo, right, confidence in expected]
    assert {r["condition"] for r in table} == {"paint", "none"} and {r["kind"] for r in table} == {
        "forward", "counterfactual"}
    assert [json.loads(r["candidates"]) for r in table] == [r["candidates"] for r in rows]
    # Without --out: the same table on standard output.
    assert run(tmp_path, "export", "fixed-trials", "--table", "trials").stdout == (tmp_path / "trials.csv").read_text()
