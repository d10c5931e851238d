"""`make bench`'s serving-at-scale points: uncached load against a plain per-request server, the
service's own overhead on a near-free model (workers sweep, server cores), and fairness (one
painter beside occlusion maps)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from bench import raw
from bench.load import OneClient
from bench.workload import load_workload, uncached_requests, write_requests_file
from inference_service.pipeline.image_cache import CachedImage
from inference_service.pipeline.preprocess import decode_image
from inference_service.runtimes.metadata import ModelMetadata
from maskscope.fills import NAME_OF as FILL_NAMES
from maskscope.limits import MAX_IMAGE_PIXELS
from maskscope.processes import ROOT, start_inference, start_logged, stop_process, wait_for_log
from maskscope.v1 import classifier_pb2 as pb

LOADGEN_SOURCE = ROOT / "bench" / "loadgen.cc"


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = _stat(int(entry))
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, stack, tick = 0.0, [pid], os.sysconf("SC_CLK_TCK")
    while stack:
        current = stack.pop()
        try:
            fields = _stat(current)
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
        stack += children.get(current, [])
    return total


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()  # after the command name, which may hold spaces


class LoadgenMissing(RuntimeError):
    """bench/loadgen.cc cannot be built here."""


def loadgen(build: Path) -> Path:
    """bench/loadgen.cc, compiled once (needs Debian's libgrpc++-dev: `make bench` installs it)."""
    binary = build / "loadgen"
    if not binary.exists() or binary.stat().st_mtime < LOADGEN_SOURCE.stat().st_mtime:
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "grpc++"], capture_output=True, text=True)
        if flags.returncode:
            raise LoadgenMissing("bench/loadgen.cc needs gRPC's C++ library: apt-get install libgrpc++-dev "
                               "(make bench does it where it can)")
        build.mkdir(parents=True, exist_ok=True)
        subprocess.run(["g++", "-O2", "-std=c++17", str(LOADGEN_SOURCE), "-o", str(binary), *flags.stdout.split()],
                       check=True)
    return binary


def overhead(model_folder: Path, build: Path, samples: Path, workers: list[int], clients: int = 64,
             seconds: float = 8.0, warmup_s: float = 2.0, server_args: tuple = ()) -> dict:
    """The tiny model under `clients` painters (C++ load generator), for each --workers count:
    requests/s and the server's CPU cores (every process of it) over the measured window."""
    binary, requests = loadgen(build), write_requests_file(build / f"requests-{clients}.bin", clients,
                                                           load_workload(samples))
    points = {}
    for count in workers:
        process, address = start_inference(model_folder, build / "logs" / f"server-tiny-{count}.log",
                                           "--workers", str(count), *server_args)
        try:
            run = subprocess.Popen([str(binary), str(requests), address, str(seconds), str(warmup_s)],
                                   stdout=subprocess.PIPE, text=True)
            time.sleep(warmup_s)
            cpu0, t0 = process_tree_cpu_s(process.pid), time.monotonic()
            time.sleep(seconds)
            cpu1, t1 = process_tree_cpu_s(process.pid), time.monotonic()
            result = json.loads(run.communicate(timeout=120)[0].strip().splitlines()[-1])
            points[str(count)] = {**result, "server_cores": (cpu1 - cpu0) / (t1 - t0),
                                  "client_cores": result["client_cpu_s"] / seconds}
        finally:
            stop_process(process)
    return points


def plain_server(model_folder: Path, log: Path):
    """bench/naive_server.py's plain onnxruntime server: (process, address)."""
    process = start_logged(["-m", "bench.naive_server", "--model-dir", str(model_folder), "--port", "0"], log)
    return process, "127.0.0.1:" + wait_for_log(process, log, r"plain server on 127.0.0.1:(\d+)")


def uncached_limit(cores: int, decode_s: float, preprocess_s: float, model_images_per_s: float) -> float:
    """Requests a second `cores` cores could serve new photos at if a request cost only its
    photo's decoding and preprocessing (core-seconds each, on one thread) and the model's
    core-time at its best batch (every core busy for 1 / `model_images_per_s` an image)."""
    return cores / (decode_s + preprocess_s + cores / model_images_per_s)


def first_sight_s(model_dir: Path, samples: Path, clients: int = 16, seconds: float = 2.0) -> dict[str, float]:
    """Core-seconds per photo (one thread, this one) of the uncached load's requests, the photos
    in the clients' mix: the service's decoding, then its first input of a photo it has never
    seen (the mask applied, resized, cropped and normalised, on a fresh CachedImage)."""
    spec = ModelMetadata.load(model_dir).preprocessing
    workload = load_workload(samples)
    streams = [uncached_requests(workload[i % len(workload)], (i << 32) + (1 << 31)) for i in range(clients)]
    decode = preprocess = 0.0
    photos, end = 0, time.monotonic() + seconds
    while time.monotonic() < end or photos == 0:
        for stream in streams:
            request = pb.ClassifyRequest.FromString(next(stream))
            t0 = time.thread_time()
            rgb = decode_image(request.image, MAX_IMAGE_PIXELS)
            t1 = time.thread_time()
            CachedImage("0" * 64, rgb).inputs(spec).input_for(request.mask, FILL_NAMES[request.fill],
                                                              request.keep_painted)
            t2 = time.thread_time()
            decode, preprocess, photos = decode + t1 - t0, preprocess + t2 - t1, photos + 1
    return {"decode_s": decode / photos, "preprocess_s": preprocess / photos, "photos": photos}


def uncached(models: Path, name: str, build: Path, run_load, samples: Path, turns: int = 3, turn_s: float = 5.0,
             latency_turn_s: float = 3.0, raw_s: float = 1.5, server_args: tuple = ()) -> dict:
    """Every request a photo the server has never seen (and a mask), 16 clients and then one, in
    turns between the service and the plain per-request onnxruntime server, both running; with
    each 16-client turn, in this process, the limit's parts: the photos' decoding and
    preprocessing (`first_sight_s`) and raw onnxruntime at the two best batch sizes of a short
    sweep (the limit takes the one fastest over the turns), and a one-thread session's CPU time
    an image (a check that the cores were not taken by others). `models`: a folder holding only the
    model folder `name`."""
    model_dir = models / name
    sweep = raw.measure(model_dir, seconds_each=raw_s)
    batches = raw.best_batches(sweep, 2)
    plain, plain_address = plain_server(model_dir, build / "logs" / f"plain-{name}.log")
    service, address = start_inference(models, build / "logs" / f"server-uncached-{name}.log", *server_args)
    try:
        result = {"16": {"served": [], "plain": [], "photos": [], "raw_ways": [], "thread_core_s": []},
                  "1": {"served": [], "plain": []}, "cores": os.cpu_count(), "raw_sweep": sweep}
        for _ in range(turns):
            result["16"]["plain"].append(run_load("http", plain_address, 16, turn_s, 2.0))
            result["16"]["served"].append(run_load("grpc-uncached", address, 16, turn_s, 2.0))
            result["16"]["photos"].append(first_sight_s(model_dir, samples, 16, raw_s))
            result["16"]["raw_ways"].append({f"batch {b}": raw.images_per_s(model_dir, b, seconds=raw_s)
                                             for b in batches})
            result["16"]["thread_core_s"].append(raw.thread_core_s(model_dir, batches[0], raw_s))
        for _ in range(turns):
            result["1"]["plain"].append(run_load("http", plain_address, 1, latency_turn_s, 1.0))
            result["1"]["served"].append(run_load("grpc-uncached", address, 1, latency_turn_s, 1.0))
        return result
    finally:
        stop_process(service)
        stop_process(plain)


def fairness(model_dir: Path, samples: Path, run_load, explainers: int = 6, alone_s: float = 4.0,
             beside_s: float = 8.0, server_args: tuple = (), build: Path | None = None, bulk: str = "explain") -> dict:
    """One painter's latency (image_id + mask, one call at a time) alone, then while `explainers`
    clients ask for occlusion maps (bulk "explain") or region searches ("search") back to back,
    then alone again."""
    log = (build or ROOT / "build" / "bench") / "logs" / f"server-fairness-{bulk}.log"
    service, address = start_inference(model_dir, log, *server_args)
    try:
        painter = OneClient(address, samples)
        try:
            painter.latencies_ms(1.0)
            before, _ = painter.latencies_ms(alone_s)
            maps = {}
            explaining = threading.Thread(target=lambda: maps.update(
                run_load(bulk, address, explainers, beside_s + 4.0, 0.0)))
            explaining.start()
            time.sleep(2.0)  # every explainer under way
            beside, errors = painter.latencies_ms(beside_s)
            explaining.join()
            after, _ = painter.latencies_ms(alone_s)
        finally:
            painter.close()
        alone = before + after
        return {"alone_p50_ms": float(np.percentile(alone, 50)), "beside_p50_ms": float(np.percentile(beside, 50)),
                "beside_p90_ms": float(np.percentile(beside, 90)), "painter_errors": errors,
                "explainers": explainers, "maps": maps.get("maps"), "map_errors": maps.get("errors"),
                "map_s": maps.get("map_s")}
    finally:
        stop_process(service)
