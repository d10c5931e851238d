"""Closed-loop load from N concurrent clients; prints one JSON line of throughput and latency.

    python -m bench.load grpc --addr 127.0.0.1:50051 --clients 16 --seconds 10
    python -m bench.load http --addr 127.0.0.1:8500 --clients 16 --seconds 10

Runs in its own process, so the server's CPU time and the clients' are not one interpreter's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import multiprocessing
import threading
import time
from pathlib import Path

import grpc
import numpy as np

from bench.workload import full_request, load_workload, painting_requests, uncached_requests
from maskscope.v1 import classifier_pb2 as pb

CLASSIFY = "/maskscope.v1.Classifier/Classify"
CLASSIFY_STREAM = "/maskscope.v1.Classifier/ClassifyStream"


def summarise(latencies_s: list[float], seconds: float, errors: int) -> dict:
    """`latencies_s`: every request that completed inside the measured window (however long ago it
    started: counting only those that also started inside would undercount slow servers)."""
    ms = np.array(latencies_s) * 1e3
    return {"requests": len(ms), "errors": errors, "requests_per_s": len(ms) / seconds,
            "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
            "p90_ms": float(np.percentile(ms, 90)) if len(ms) else None,
            "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None}


async def grpc_load(addr: str, clients: range, seconds: float, warmup_s: float, samples: Path,
                    stream: bool = False, start: float | None = None, uncached: bool = False) -> tuple[list[float], int]:
    """Latencies of the requests completed in the measured window, and the failures. `uncached`:
    every request a photo the server has never seen (with a mask), instead of painting by image_id."""
    workload = load_workload(samples)
    latencies, errors = [], [0]
    start = time.time() if start is None else start
    # Wall-clock time: a window shared by the processes of one load.
    measure_from, measure_to = start + warmup_s, start + warmup_s + seconds

    async def client(index: int):
        interaction = workload[index % len(workload)]
        # A connection of its own, as each painter's browser would bring (gRPC would otherwise carry
        # every channel of this process on one connection, to one front-end process).
        async with grpc.aio.insecure_channel(addr, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            # Raw bytes in and out: the load generator should not spend the CPU it is measuring.
            classify = channel.unary_unary(CLASSIFY)
            if uncached:
                fresh = uncached_requests(interaction, index << 32)
                requests = None
            else:
                first = pb.ClassifyResponse.FromString(
                    await classify(full_request(interaction, 0).SerializeToString(), timeout=60))
                requests = painting_requests(first.image_id, interaction)
            if stream:  # one ClassifyStream per painting session, as the page's live mode has
                call = channel.stream_stream(CLASSIFY_STREAM)(timeout=600)

                async def classify(request, timeout):
                    await call.write(request)
                    return await call.read()
            k = index
            while True:
                t0 = time.time()
                if t0 >= measure_to:
                    if stream:
                        await call.done_writing()
                    return
                try:
                    await classify(next(fresh) if uncached else requests[k % len(requests)], timeout=60)
                except grpc.aio.AioRpcError:
                    errors[0] += 1
                t1 = time.time()
                if measure_from <= t1 <= measure_to:
                    latencies.append(t1 - t0)
                k += 1

    await asyncio.gather(*(client(i) for i in clients))
    return latencies, errors[0]


class OneClient:
    """One painter on one photo, one request at a time on a blocking channel (as the web client
    calls the service): one client's latency, measured in turns with raw onnxruntime in this
    process. The photo is sent once, then image_id + mask."""

    def __init__(self, addr: str, samples: Path):
        interaction = load_workload(samples)[0]  # the sweep's one client paints this photo too
        self._channel = grpc.insecure_channel(addr)
        self._classify = self._channel.unary_unary(CLASSIFY)
        first = pb.ClassifyResponse.FromString(
            self._classify(full_request(interaction, 0).SerializeToString(), timeout=60))
        self._requests = painting_requests(first.image_id, interaction)
        self._sent = 0

    def latencies_ms(self, seconds: float) -> tuple[list[float], int]:
        """Latencies of the requests answered within `seconds`, and how many failed."""
        latencies, errors, end = [], 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            request = self._requests[self._sent % len(self._requests)]
            self._sent += 1
            t0 = time.perf_counter()
            try:
                self._classify(request, timeout=60)
            except grpc.RpcError:
                errors += 1
                continue
            latencies.append((time.perf_counter() - t0) * 1e3)
        return latencies, errors

    def close(self) -> None:
        self._channel.close()


def _grpc_load_process(args: tuple) -> tuple[list[float], int]:
    return asyncio.run(grpc_load(*args))


def grpc_load_processes(addr: str, clients: int, seconds: float, warmup_s: float, samples: Path,
                        stream: bool = False, processes: int = 1, uncached: bool = False) -> dict:
    """grpc_load with the clients split over `processes` processes (one Python process cannot load a
    fast GPU server: its own event loop would be what is measured)."""
    start = time.time()
    if processes <= 1:
        latencies, errors = asyncio.run(grpc_load(addr, range(clients), seconds, warmup_s, samples, stream, start,
                                                  uncached))
        return summarise(latencies, seconds, errors)
    start += 3.0  # time for the processes to start before the shared window opens
    shares = [range(i, clients, processes) for i in range(min(processes, clients))]
    with multiprocessing.get_context("spawn").Pool(len(shares)) as pool:
        parts = pool.map(_grpc_load_process, [(addr, share, seconds, warmup_s, samples, stream, start, uncached)
                                              for share in shares])
    return summarise([t for part, _ in parts for t in part], seconds, sum(errors for _, errors in parts))


def http_load(addr: str, clients: int, seconds: float, warmup_s: float, samples: Path) -> dict:
    """The naive prototype's protocol: the whole photo and the mask in every request."""
    workload = load_workload(samples)
    host, port = addr.rsplit(":", 1)
    latencies, errors, lock = [], [0], threading.Lock()
    start = time.perf_counter()
    measure_from, measure_to = start + warmup_s, start + warmup_s + seconds

    def client(index: int):
        interaction = workload[index % len(workload)]
        bodies = [json.dumps({"image": base64.b64encode(interaction.image).decode(),
                              "mask": base64.b64encode(mask).decode()}).encode() for mask in interaction.masks]
        connection = http.client.HTTPConnection(host, int(port), timeout=120)
        k = index
        while True:
            t0 = time.perf_counter()
            if t0 >= measure_to:
                break
            try:
                connection.request("POST", "/classify", bodies[k % len(bodies)], {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                ok = False
                connection = http.client.HTTPConnection(host, int(port), timeout=120)
            t1 = time.perf_counter()
            with lock:
                if not ok:
                    errors[0] += 1
                elif measure_from <= t1 <= measure_to:
                    latencies.append(t1 - t0)
            k += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summarise(latencies, seconds, errors[0])


BULK_CALLS = {  # kind: (method, request for an image_id)
    "explain": ("/maskscope.v1.Classifier/Explain", lambda image_id: pb.ExplainRequest(image_id=image_id)),
    "search": ("/maskscope.v1.Classifier/Search", lambda image_id: pb.SearchRequest(image_id=image_id)),
}


def bulk_load(kind: str, addr: str, clients: int, seconds: float, samples: Path) -> dict:
    """`clients` callers asking for occlusion maps (kind "explain") or region searches ("search")
    back to back, each of its own photo by image_id, for `seconds`: how many completed, and how
    long each took (the median)."""
    method, make_request = BULK_CALLS[kind]
    workload = load_workload(samples)
    durations, errors, lock = [], [0], threading.Lock()
    end = time.monotonic() + seconds

    def client(index: int):
        interaction = workload[index % len(workload)]
        with grpc.insecure_channel(addr, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            image_id = pb.ClassifyResponse.FromString(channel.unary_unary(CLASSIFY)(
                full_request(interaction, 0).SerializeToString(), timeout=60)).image_id
            call = channel.unary_stream(method)
            request = make_request(image_id).SerializeToString()
            while time.monotonic() < end:
                t0 = time.monotonic()
                try:
                    for _ in call(request, timeout=600):
                        pass
                    with lock:
                        durations.append(time.monotonic() - t0)
                except grpc.RpcError:
                    with lock:
                        errors[0] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"maps": len(durations), "errors": errors[0],
            "map_s": float(np.median(durations)) if durations else None}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("protocol", choices=("grpc", "grpc-stream", "grpc-uncached", "http", "explain", "search"),
                        help="grpc: a Classify call per mask; grpc-stream: masks on one ClassifyStream per client; "
                             "grpc-uncached: every request a photo the server has never seen; explain: occlusion "
                             "maps back to back; search: region searches (what flips it) back to back")
    parser.add_argument("--addr", required=True)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time, after the warm-up")
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--samples", type=Path, default=Path("build/bench/samples"))
    parser.add_argument("--processes", type=int, default=1, help="processes the gRPC clients are split over")
    args = parser.parse_args(argv)
    if args.protocol in BULK_CALLS:
        result = bulk_load(args.protocol, args.addr, args.clients, args.seconds, args.samples)
    elif args.protocol.startswith("grpc"):
        result = grpc_load_processes(args.addr, args.clients, args.seconds, args.warmup_s, args.samples,
                                     stream=args.protocol == "grpc-stream", processes=args.processes,
                                     uncached=args.protocol == "grpc-uncached")
    else:
        result = http_load(args.addr, args.clients, args.seconds, args.warmup_s, args.samples)
    print(json.dumps({"clients": args.clients, **result}), flush=True)


if __name__ == "__main__":
    main()
