"""Each Dockerfile's entrypoint, as the image would run it, started from a plain virtualenv.

There is no Docker engine here: these tests build what the image holds (its requirements file in
a fresh virtualenv, the folders it copies, its ENV) and run its ENTRYPOINT.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, ROOT, free_port
from maskscope.processes import stop_process, wait_for_log

DOCKER = ROOT / "deploy" / "docker"
VENVS = ROOT / "build" / "venvs"


def runtime_stage(dockerfile: Path) -> list[str]:
    """The lines of the stage named `runtime`."""
    lines, inside = [], False
    for line in re.sub(r"\\\n\s*", " ", dockerfile.read_text()).splitlines():
        if line.startswith("FROM "):
            inside = line.rstrip().endswith(" AS runtime")
        elif inside:
            lines.append(line.strip())
    return lines


def image_spec(dockerfile: Path) -> dict:
    lines = runtime_stage(dockerfile)
    env = {}
    for line in lines:
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line[4:])))
    (entrypoint,) = [json.loads(line[len("ENTRYPOINT "):]) for line in lines if line.startswith("ENTRYPOINT ")]
    copies = [line.split()[1:3] for line in lines if line.startswith("COPY ") and "--from" not in line
              and not line.split()[1].startswith("requirements")]
    requirements = re.findall(r"requirements/([\w-]+\.txt)", " ".join(l for l in lines if "pip install" in l))
    (healthcheck,) = [json.loads(line.split(" CMD ", 1)[1]) for line in lines if line.startswith("HEALTHCHECK ")]
    return {"env": env, "entrypoint": entrypoint, "copies": copies, "requirements": requirements,
            "healthcheck": healthcheck}


def plain_venv(requirements: list[str]) -> Path:
    """A fresh virtualenv with only these requirements files (cached by their contents)."""
    text = "".join((ROOT / "requirements" / name).read_text() for name in sorted(requirements))
    text += "".join((ROOT / "requirements" / name).read_text()
                    for name in re.findall(r"-r ([\w-]+\.txt)", text))
    folder = VENVS / hashlib.sha256(text.encode()).hexdigest()[:16]
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        args = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        for name in requirements:
            args += ["-r", str(ROOT / "requirements" / name)]
        subprocess.run(args, check=True)
        (folder / ".complete").touch()
    return folder


def app_folder(spec: dict, tmp_path: Path) -> Path:
    """/app as the image has it: only the folders its COPY lines bring in."""
    app = tmp_path / "app"
    for source, target in spec["copies"]:
        shutil.copytree(ROOT / source, app / target, ignore=shutil.ignore_patterns("__pycache__", "samples"))
    return app



def image_env(spec: dict, overrides: dict) -> dict:
    env = {key: value for key, value in spec["env"].items() if key != "PATH"}
    env.update(overrides)
    return {"PATH": os.environ["PATH"], "PYTHONUNBUFFERED": "1", **env}


def healthcheck(python: Path, spec: dict, app: Path, overrides: dict) -> subprocess.CompletedProcess:
    """The image's HEALTHCHECK command, as Docker runs it in the container."""
    command = spec["healthcheck"]
    assert command[0] == "python"
    return subprocess.run([str(python), *command[1:]], cwd=app, env=image_env(spec, overrides),
                          capture_output=True, text=True, timeout=60)


def run_entrypoint(python: Path, spec: dict, app: Path, overrides: dict, log_name: str):
    env = image_env(spec, overrides)
    command = [str(python), *spec["entrypoint"][1:]] if spec["entrypoint"][0] == "python" else spec["entrypoint"]
    log = ARTIFACTS / "logs" / f"{log_name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=app, stdout=out, stderr=subprocess.STDOUT, env=env)
    return process, log


@pytest.mark.parametrize("dockerfile, python_from, workers", [("inference-cpu.Dockerfile", "plain", "1"),
                                                              ("inference.Dockerfile", "project", "2")])
def test_inference_image_entrypoint_serves(dockerfile, python_from, workers, model_dir, tmp_path):
    spec = image_spec(DOCKER / dockerfile)
    assert spec["entrypoint"] == ["python", "-m", "inference_service"], "the README's command"
    # onnxruntime-gpu is 440 MB: the GPU image's requirements are the project's own venv's.
    python = (plain_venv(spec["requirements"]) / "bin" / "python") if python_from == "plain" else Path(sys.executable)
    metrics = free_port()
    app = app_folder(spec, tmp_path)
    overrides = {"MASKSCOPE_HOST": "127.0.0.1", "MASKSCOPE_PORT": "0", "MASKSCOPE_METRICS_PORT": str(metrics),
                 "MASKSCOPE_MODEL_DIR": str(model_dir), "MASKSCOPE_WORKERS": workers}
    process, log = run_entrypoint(python, spec, app, overrides, f"image-{dockerfile}")
    try:
        port = wait_for_log(process, log, r"listening on [^ ]+:(\d+)")
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        import grpc
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        assert b"maskscope_requests" in urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics").read()
        # Its HEALTHCHECK, pointed at this port (a container keeps the image's 50051).
        check = healthcheck(python, spec, app, {**overrides, "MASKSCOPE_ADDR": f"127.0.0.1:{port}"})
        assert check.returncode == 0 and check.stdout.strip() == "SERVING", check.stdout + check.stderr
        nobody = healthcheck(python, spec, app, {**overrides, "MASKSCOPE_ADDR": f"127.0.0.1:{free_port()}"})
        assert nobody.returncode == 1 and "UNAVAILABLE" in nobody.stderr
    finally:
        stop_process(process)


def test_the_inference_image_serves_other_machines_only_with_a_token_or_when_told_to(model_dir, tmp_path):
    """`docker run -p 50051:50051` with nothing else: the image binds every interface, so it
    refuses to start with no token and says how; MASKSCOPE_ALLOW_UNAUTHENTICATED starts it."""
    spec = image_spec(DOCKER / "inference-cpu.Dockerfile")
    assert spec["env"]["MASKSCOPE_HOST"] == "0.0.0.0"
    python = plain_venv(spec["requirements"]) / "bin" / "python"
    app = app_folder(spec, tmp_path)
    as_shipped = {"MASKSCOPE_PORT": "0", "MASKSCOPE_METRICS_PORT": "0", "MASKSCOPE_MODEL_DIR": str(model_dir)}
    process, log = run_entrypoint(python, spec, app, as_shipped, "image-inference-no-token")
    assert process.wait(60) == 2
    assert "--auth-token" in log.read_text() and "--allow-unauthenticated" in log.read_text()
    process, log = run_entrypoint(python, spec, app, {**as_shipped, "MASKSCOPE_ALLOW_UNAUTHENTICATED": "true"},
                                  "image-inference-open")
    try:
        wait_for_log(process, log, r"listening on [^ ]+:(\d+)")
        assert "with no token (--allow-unauthenticated)" in log.read_text()
    finally:
        stop_process(process)


def test_web_image_entrypoint_serves(server, tmp_path):
    spec = image_spec(DOCKER / "web.Dockerfile")
    assert spec["entrypoint"] == ["python", "-m", "web_client"], "the README's command"
    python = plain_venv(spec["requirements"]) / "bin" / "python"
    metrics = free_port()
    assert spec["env"]["MASKSCOPE_METRICS_PORT"] == "9090"
    app = app_folder(spec, tmp_path)
    overrides = {"MASKSCOPE_HOST": "127.0.0.1", "MASKSCOPE_PORT": "0", "MASKSCOPE_METRICS_PORT": str(metrics),
                 "MASKSCOPE_INFERENCE_ADDR": server.address}
    process, log = run_entrypoint(python, spec, app, overrides, "image-web")
    try:
        url = wait_for_log(process, log, r"web page on (http://127\.0\.0\.1:\d+/)")
        page = urllib.request.urlopen(url, timeout=30)
        assert page.status == 200 and b"Maskscope" in page.read()
        health = json.loads(urllib.request.urlopen(url + "api/health", timeout=30).read())
        assert health == {"inference": "SERVING"}
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=30).read()
        assert b'maskscope_web_requests_total{method="GET",route="/api/health",status="200"} 1.0' in scraped
        port = url.rstrip("/").rsplit(":", 1)[1]
        assert healthcheck(python, spec, app, {**overrides, "MASKSCOPE_PORT": port}).returncode == 0
        assert healthcheck(python, spec, app, {**overrides, "MASKSCOPE_PORT": str(free_port())}).returncode != 0
    finally:
        stop_process(process)
