"""deploy/pin_images.py: the one list of images, pinned to digests, and every overlay with them."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.deploy.test_k8s import OVERLAYS, kubectl

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.fixture
def deploy(tmp_path) -> Path:
    copy = tmp_path / "deploy"
    shutil.copytree(ROOT / "deploy", copy)
    return copy


def pin(deploy: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(deploy / "pin_images.py"), *args], capture_output=True, text=True)


def images_in(deploy: Path, overlay: str) -> set[str]:
    rendered = subprocess.run([kubectl(), "kustomize", str(deploy / "k8s" / "overlays" / overlay)],
                              capture_output=True, text=True, check=True).stdout
    return {c["image"] for d in yaml.safe_load_all(rendered) if d and d["kind"] in ("Deployment", "StatefulSet")
            for c in d["spec"]["template"]["spec"]["containers"]}


def test_pinned_images_reach_every_container_of_both_overlays(deploy):
    assert pin(deploy, "--check").returncode == 1
    pins = {"maskscope-inference": "registry.example.org/ml/maskscope-inference:0.1.0",
            "maskscope-inference-cpu": "registry.example.org/ml/maskscope-inference-cpu",
            "maskscope-web": "registry.example.org/ml/maskscope-web", "postgres": "docker.io/library/postgres:15"}
    result = pin(deploy, *(f"{name}={ref}@{DIGEST}" for name, ref in pins.items()), "--check")
    assert result.returncode == 0, result.stderr
    assert images_in(deploy, "gpu") == {f"registry.example.org/ml/maskscope-inference@{DIGEST}",
                                        f"registry.example.org/ml/maskscope-web@{DIGEST}",
                                        f"docker.io/library/postgres@{DIGEST}"}
    assert f"registry.example.org/ml/maskscope-inference-cpu@{DIGEST}" in images_in(deploy, "cpu")
    text = (deploy / "k8s" / "images" / "kustomization.yaml").read_text()
    assert text.startswith("# Every image Maskscope runs, in one place.") and "newTag" not in text


@pytest.mark.parametrize("argument, message", [
    ("maskscope-web=registry.example.org/maskscope-web:0.1.0", "not REPOSITORY@sha256:<64 hex digits>"),
    (f"maskscope-web=registry.example.org/maskscope-web@sha256:{'ab' * 16}", "not REPOSITORY@sha256"),
    (f"maskscope-api=registry.example.org/maskscope-api@{DIGEST}", "maskscope-api: no such image"),
])
def test_a_wrong_pin_is_refused_and_changes_nothing(deploy, argument, message):
    before = (deploy / "k8s" / "images" / "kustomization.yaml").read_text()
    result = pin(deploy, f"postgres=postgres@{DIGEST}", argument)
    assert result.returncode == 2 and message in result.stderr
    assert (deploy / "k8s" / "images" / "kustomization.yaml").read_text() == before


def test_our_images_are_tagged_with_the_projects_version():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    component = yaml.safe_load((ROOT / "deploy" / "k8s" / "images" / "kustomization.yaml").read_text())
    tags = {i["name"]: i.get("newTag") for i in component["images"]}
    assert {tags[n] for n in ("maskscope-inference", "maskscope-inference-cpu", "maskscope-web")} == {version}
    for overlay in OVERLAYS:
        assert all(":" in image or "@" in image for image in images_in(ROOT / "deploy", overlay))
