"""Running Maskscope's servers as subprocesses (for tests and benchmarks): start, wait, stop."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_logged(args: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
    """`python ARGS` from the repository root, its output going to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


def wait_for_log(process: subprocess.Popen, log_path: Path, pattern: str, timeout_s: float = 120) -> str:
    """The first group of `pattern` once the process logs it."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        match = re.search(pattern, log_path.read_text())
        if match:
            return match.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}:\n{log_path.read_text()}")
        time.sleep(0.1)
    raise TimeoutError(f"{process.args} did not start:\n{log_path.read_text()}")


def stop_process(process: subprocess.Popen, timeout_s: float = 30) -> int:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_serving(address: str, timeout_s: float = 120, make_channel=None) -> None:
    """Waits for the gRPC health check at `address` to say SERVING (`make_channel()`: e.g. with TLS)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    end = time.monotonic() + timeout_s
    with (make_channel or (lambda: grpc.insecure_channel(address)))() as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < end:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == \
                        health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"{address} never became SERVING")


def start_inference(model_dir: Path, log_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`python -m inference_service` on a free loopback port, once it is SERVING: (process, address)."""
    process = start_logged(["-m", "inference_service", "--port", "0", "--model-dir", str(model_dir), *args], log_path)
    try:
        address = "127.0.0.1:" + wait_for_log(process, log_path, r"listening on [^ ]+:(\d+)")
        wait_serving(address)
    except BaseException:
        stop_process(process)
        raise
    return process, address


def start_web(inference_address: str, log_path: Path, *args: str, env: dict | None = None
              ) -> tuple[subprocess.Popen, str]:
    """`python -m web_client` on a free loopback port, once it serves: (process, its URL)."""
    process = start_logged(["-m", "web_client", "--host", "127.0.0.1", "--port", "0",
                            "--inference-addr", inference_address, *args], log_path, env)
    try:
        url = wait_for_log(process, log_path, r"web page on (http://127\.0\.0\.1:\d+/)")
    except BaseException:
        stop_process(process)
        raise
    return process, url


# What a server process costs, from /proc (Linux): its worker processes, their memory and CPU.

def children(pid: int) -> list[int]:
    """The processes `pid` started (gunicorn's master: its workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory now."""
    return _status_kb(pid, "VmRSS") * 1024


def peak_rss_bytes(pid: int) -> int:
    """Resident memory at its highest since the process started, or since reset_peak_rss."""
    return _status_kb(pid, "VmHWM") * 1024


def reset_peak_rss(pid: int) -> None:
    """Starts the peak (VmHWM) again from the memory in use now (needs the right to write the
    process's clear_refs: its owner's or root's)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)
