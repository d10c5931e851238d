"""Shared fixtures: the real exported model, real sample photos, and a real server on a free port."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from maskscope import processes
from maskscope.channel import make_channel
from maskscope.processes import stop_process, wait_for_log

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("MASKSCOPE_ARTIFACTS_DIR", ROOT / "artifacts"))
# Study databases of web apps the tests start (in-process and as subprocesses) go here, not in ./data.
os.environ.setdefault("MASKSCOPE_DATA_DIR", str(ARTIFACTS / "data"))


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_arrays() -> dict[str, np.ndarray]:
    """The real photos Maskscope ships as samples, as H x W x 3 uint8 arrays."""
    import matplotlib
    import skimage.data

    photos = {name: getattr(skimage.data, name)() for name in ("coffee", "chelsea", "astronaut", "rocket")}
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    photos["grace_hopper"] = np.asarray(Image.open(hopper).convert("RGB"))
    return photos


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    return sample_arrays()


@pytest.fixture(scope="session")
def photo_png(photos) -> dict[str, bytes]:
    return {name: png_bytes(array) for name, array in photos.items()}


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The offline default model, exported once (by `make models`, or here if it is missing)."""
    root = Path(os.environ.get("MASKSCOPE_MODEL_DIR", ROOT / "models"))
    if not (root / "efficientnet-lite0" / "metadata.json").exists():
        subprocess.run([sys.executable, "-m", "inference_service.export", "efficientnet-lite0", "--out", str(root)],
                       check=True, cwd=ROOT)
    return root


@pytest.fixture(scope="session")
def imported_model_dir(model_dir, tmp_path_factory) -> Path:
    """Lite0 beside three small non-ImageNet classifiers imported with `export onnx` (tests/classifiers.py)."""
    from tests.classifiers import imported_models
    return imported_models(tmp_path_factory.mktemp("imported") / "models", model_dir / "efficientnet-lite0")


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server (tests/postgres.py) for the study store's tests, one for the session."""
    from tests.postgres import PostgresServer
    server = PostgresServer()
    yield server
    server.stop()


class ServerProcess:
    """`python -m inference_service` as a subprocess on a free loopback port."""

    def __init__(self, model_dir: Path, *extra_args: str, env: dict | None = None, port: int = 0,
                 tls_ca: Path | None = None, host: str = "127.0.0.1"):
        self.tls_ca = tls_ca
        self.process, self.log_path = start_logged(
            "inference", ["-m", "inference_service", "--host", host, "--port", str(port),
                          "--model-dir", str(model_dir), *extra_args], env)
        self.port = int(wait_for_log(self.process, self.log_path, r"listening on [^ ]+:(\d+)"))
        self.address = f"127.0.0.1:{self.port}"
        self._wait_until_serving()

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_until_refusing(self, processes: int = 1, timeout_s: float = 30) -> None:
        """After a SIGTERM: until every serving process has taken its backlog in and refuses new calls."""
        end = time.monotonic() + timeout_s
        while self.log().count("refusing new calls") < processes:
            if time.monotonic() > end:
                raise TimeoutError(f"the server never stopped taking calls:\n{self.log()}")
            time.sleep(0.02)

    def channel(self) -> grpc.Channel:
        return make_channel(self.address, tls_ca_file=self.tls_ca, tls_server_name="localhost" if self.tls_ca else "")

    def _wait_until_serving(self, timeout_s: float = 30) -> None:
        try:
            processes.wait_serving(self.address, timeout_s, self.channel)
        except TimeoutError:
            raise TimeoutError(f"server never became SERVING:\n{self.log()}") from None

    def stop(self, timeout_s: float = 30) -> int:
        return stop_process(self.process, timeout_s)


class WebServer:
    """`python -m web_client` as a subprocess on a free loopback port."""

    def __init__(self, inference_address: str, *extra_args: str, env: dict | None = None):
        self.log_path = ARTIFACTS / "logs" / f"web-{time.time_ns()}.log"
        self.process, self.url = processes.start_web(inference_address, self.log_path, *extra_args, env=env)

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        return stop_process(self.process)


def start_logged(name: str, args: list[str], env: dict | None = None):
    log_path = ARTIFACTS / "logs" / f"{name}-{time.time_ns()}.log"
    return processes.start_logged(args, log_path, env), log_path


@pytest.fixture(scope="session")
def server(model_dir):
    process = ServerProcess(model_dir)
    yield process
    process.stop()


@pytest.fixture
def channel(server):
    with grpc.insecure_channel(server.address) as channel:
        yield channel
