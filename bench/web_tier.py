"""`make bench`'s web section: the web tier holding thousands of open live pages, and live painters
against its gevent and threaded servers, with the worker's memory and CPU read from /proc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.scale import process_tree_cpu_s
from maskscope.processes import (ROOT, children, cpu_seconds, peak_rss_bytes, reset_peak_rss, rss_bytes,
                                 start_inference, start_web, stop_process)


def run_web_load(mode: str, url: str, args: list[str], log: Path, on_event=lambda name: None) -> dict:
    """`python -m bench.web_load MODE`: `on_event(name)` as each event line arrives; its last line."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as errors:
        process = subprocess.Popen([sys.executable, "-m", "bench.web_load", mode, "--url", url, *args], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=errors, text=True)
        result = None
        for line in process.stdout:
            message = json.loads(line)
            if "event" in message:
                on_event(message["event"])
            else:
                result = message
        if process.wait() or result is None:
            raise RuntimeError(f"bench.web_load {mode} exited with {process.returncode}:\n{log.read_text()[-4000:]}")
    return result


def only_worker(web: subprocess.Popen) -> int:
    """The one gunicorn worker of a `--processes 1` web server (it may take a moment to start)."""
    for _ in range(100):
        workers = children(web.pid)
        if workers:
            return workers[0]
        time.sleep(0.1)
    raise RuntimeError("the web server started no worker process")


class Marks:
    """The web worker's (and the inference service's) memory and CPU at each event of a load."""

    def __init__(self, worker: int, inference: int):
        self.worker, self.inference, self.at = worker, inference, {}

    def __call__(self, event: str) -> None:
        self.at[event] = {"t": time.monotonic(), "worker_rss_bytes": rss_bytes(self.worker),
                          "worker_cpu_s": cpu_seconds(self.worker),
                          "inference_rss_bytes": rss_bytes(self.inference),
                          "inference_cpu_s": process_tree_cpu_s(self.inference)}
        if event == "warm":  # the peak from here on is the open pages' (if /proc lets us restart it)
            try:
                reset_peak_rss(self.worker)
            except OSError:
                pass
        if event == "open":
            self.at[event]["worker_peak_rss_bytes"] = peak_rss_bytes(self.worker)

    def cores(self, who: str, start: str = "measure", end: str = "measured") -> float:
        a, b = self.at[start], self.at[end]
        return (b[f"{who}_cpu_s"] - a[f"{who}_cpu_s"]) / (b["t"] - a["t"])


def open_pages(inference: subprocess.Popen, address: str, build: Path, samples: Path, pages: int,
               seconds: float) -> dict:
    """`pages` live pages open and idle on one gevent worker; health checks and new painters meanwhile."""
    web, url = start_web(address, build / "logs" / "web-pages.log", "--processes", "1")
    try:
        worker = only_worker(web)
        marks = Marks(worker, inference.pid)
        load = run_web_load("pages", url, ["--pages", str(pages), "--seconds", str(seconds), "--samples", str(samples)],
                            build / "logs" / "web-load-pages.log", marks)
        before, opened = marks.at["warm"], marks.at["open"]
        grown = opened["worker_rss_bytes"] - before["worker_rss_bytes"]
        return {**load, "worker_class": "gevent", "worker_restarted": children(web.pid) != [worker],
                "worker_rss_before_bytes": before["worker_rss_bytes"],
                "worker_rss_open_bytes": opened["worker_rss_bytes"],
                "worker_peak_rss_bytes": opened["worker_peak_rss_bytes"],
                "worker_bytes_per_page": grown / max(1, load["opened"]),
                "inference_rss_before_bytes": before["inference_rss_bytes"],
                "inference_rss_open_bytes": opened["inference_rss_bytes"],
                "worker_cores": marks.cores("worker"), "inference_cores": marks.cores("inference"),
                "web_log_errors": _log_errors(build / "logs" / "web-pages.log")}
    finally:
        stop_process(web)


def painters(inference: subprocess.Popen, address: str, build: Path, samples: Path, worker_class: str,
             pages: int, seconds: float, rate_hz: float, threads: int) -> dict:
    """`pages` live painters against one web worker of `worker_class`; the worker's CPU per message."""
    extra = ["--worker-class", "gthread", "--threads", str(threads)] if worker_class == "gthread" else []
    log = build / "logs" / f"web-painters-{worker_class}.log"
    web, url = start_web(address, log, "--processes", "1", *extra)
    try:
        worker = only_worker(web)
        marks = Marks(worker, inference.pid)
        load = run_web_load("painters", url, ["--pages", str(pages), "--seconds", str(seconds), "--rate-hz",
                                              str(rate_hz), "--samples", str(samples)],
                            build / "logs" / f"web-load-painters-{worker_class}.log", marks)
        a, b = marks.at["measure"], marks.at["measured"]
        cpu_s = b["worker_cpu_s"] - a["worker_cpu_s"]
        return {**load, "worker_class": worker_class, "threads": threads if worker_class == "gthread" else None,
                "worker_restarted": children(web.pid) != [worker], "worker_cpu_s": cpu_s,
                "worker_cpu_ms_per_message": cpu_s * 1e3 / load["sent"] if load["sent"] else None,
                "worker_cores": marks.cores("worker"), "inference_cores": marks.cores("inference"),
                "load_cores": load["load_cpu_s"] / load["window_s"], "worker_rss_bytes": b["worker_rss_bytes"],
                "web_log_errors": _log_errors(log)}
    finally:
        stop_process(web)


def _log_errors(log: Path) -> dict[str, int]:
    """The web server log's errors and warnings, counted by what they say (a traceback: by its
    exception's line)."""
    counts: dict[str, int] = {}
    lines = log.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if not any(level in line for level in (" ERROR ", " WARNING ", "[ERROR]", "[WARNING]")):
            continue
        what = line.split("] ", 3)[-1] if line.startswith("[") else line.split(" ", 3)[-1]  # less the time
        if i + 1 < len(lines) and lines[i + 1].startswith("Traceback"):
            end = i + 1
            while end + 1 < len(lines) and (lines[end].startswith(("Traceback", " ")) or not lines[end].strip()):
                end += 1
            what = lines[end].strip()
        counts[what[:200]] = counts.get(what[:200], 0) + 1
    return counts


def web_tier(model_dir: Path, build: Path, samples: Path, pages: int = 2000, pages_s: float = 10.0,
             painters_count: int = 100, painters_s: float = 20.0, rate_hz: float = 5.0, threads: int = 128,
             server_args: tuple = ()) -> dict:
    """Both loads in front of one inference service of `model_dir` (the near-free tiny model, so
    that what is measured is the web tier): open pages on gevent; painters on gevent, then gthread."""
    inference, address = start_inference(model_dir, build / "logs" / "server-web.log", *server_args)
    try:
        result = {"cores": os.cpu_count(), "pages": open_pages(inference, address, build, samples, pages, pages_s)}
        result["painters"] = {kind: painters(inference, address, build, samples, kind, painters_count, painters_s,
                                             rate_hz, threads) for kind in ("gevent", "gthread")}
        return result
    finally:
        stop_process(inference)
