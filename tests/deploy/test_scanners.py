"""What a platform's review runs over deploy/: hadolint on each Dockerfile and checkov on the
Dockerfiles and the rendered overlays. Any finding fails; each skip is justified where it is made."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCAN_BIN = ROOT / ".venv-scan" / "bin"
DOCKERFILES = sorted((DEPLOY / "docker").glob("*.Dockerfile"))


def tool(name: str) -> str:
    path = SCAN_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: `make scanners` installs the pinned scanners (make test does)")
    return str(path)


def checkov(folder: Path, *args: str) -> dict[str, dict]:
    """checkov's JSON report, by framework (kustomize renders the overlays with the pinned kubectl)."""
    result = subprocess.run([tool("checkov"), "-d", str(folder), "--output", "json", *args], capture_output=True,
                            text=True, cwd=folder.parent, env={**os.environ, "PATH": f"{SCAN_BIN}:{os.environ['PATH']}"},
                            timeout=600)
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    return {r["check_type"]: r for r in reports}


def failures(report: dict) -> list[str]:
    return [f"{c['check_id']} {c['check_name']}: {c['resource']}" for c in report["results"]["failed_checks"]]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[p.name for p in DOCKERFILES])
def test_hadolint_finds_nothing(dockerfile):
    result = subprocess.run([tool("hadolint"), "--no-color", str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
    for line in dockerfile.read_text().splitlines():  # an ignore says why on its own line
        if "hadolint ignore=" in line:
            assert re.search(r"hadolint ignore=\S+\s+#?\s*\w.{10,}", line), line


def test_checkov_over_deploy_finds_nothing_but_what_its_config_skips_with_reasons():
    config = DEPLOY / "checkov.yaml"
    reports = checkov(DEPLOY, "--config-file", str(config))
    assert set(reports) >= {"kustomize", "dockerfile"}, "checkov scanned no overlay or no Dockerfile"
    for framework, report in reports.items():  # "secrets" reports only when it finds one
        assert failures(report) == [], framework
        assert report["summary"]["passed"] > 50, framework
    rendered = {c["resource"].split(":", 2)[1] for c in reports["kustomize"]["results"]["passed_checks"]
                if c["resource"].startswith("overlay:")}
    assert rendered == {"overlays/gpu", "overlays/cpu"}
    for line in config.read_text().splitlines():
        if re.match(r"\s+- CKV_", line):
            assert re.search(r"#\s*\w.{20,}", line), f"a skip without its reason: {line}"


def test_the_pinned_overlays_pass_the_image_checks_too(tmp_path):
    """As released: every image pinned by deploy/pin_images.py, checkov without a single skip."""
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    component = yaml.safe_load((copy / "k8s" / "images" / "kustomization.yaml").read_text())
    pins = [f"{image['name']}=registry.example.org/{image['name']}@sha256:"
            f"{hashlib.sha256(image['name'].encode()).hexdigest()}" for image in component["images"]]
    subprocess.run([sys.executable, str(copy / "pin_images.py"), *pins], check=True)
    reports = checkov(copy / "k8s", "--framework", "kustomize", "--skip-download")
    assert reports["kustomize"]["summary"]["passed"] > 500
    assert failures(reports["kustomize"]) == []
    unpinned = checkov(DEPLOY / "k8s", "--framework", "kustomize", "--skip-download")
    assert {f.split()[0] for f in failures(unpinned["kustomize"])} == {"CKV_K8S_43", "CKV_K8S_15"}
