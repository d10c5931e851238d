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
