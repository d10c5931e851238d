"""Live pages (WebSockets) against the web tier, from one asyncio process; prints one JSON line.

    python -m bench.web_load pages --url http://127.0.0.1:8000/ --pages 2000 --seconds 10
    python -m bench.web_load painters --url http://127.0.0.1:8000/ --pages 100 --rate-hz 5 --seconds 20

pages: one page uploads a photo; then `--pages` pages each send a mask by its image_id, get the
answer and stay open, idle; meanwhile /api/health on fresh connections and a new painter every
second (a mask by image_id; every few seconds a photo upload too), timed to their first answer;
at the end every open page is pinged. painters: `--pages` pages each send a mask every 1 /
`--rate-hz` s (open loop, sequence numbers rising, a stroke growing), every send and answer timed.

Lines before the last are events, `{"event": "warm" | "open" | "measure" | "measured"}`, printed as
they happen: bench/web_tier.py reads the web worker's memory and CPU from /proc at each.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from bench.workload import load_workload, unique_photo

ANSWER_TIMEOUT_S = 30.0
CONNECT_AT_ONCE = 64  # handshakes in flight while the pages open: a class arriving, not one burst
UPLOADS_AT_ONCE = 4
TRY_AGAIN_LATER = 1013  # the web tier's close code when it is busy receiving other uploads
GRACE_S = 2.0         # after the painters' last message, how long their answers may take to arrive


# ---- pure rules ----

def served(sent: dict[int, float], answered: dict[int, float]) -> list[int]:
    """The sequences of `sent` that were served: answered, or superseded (a later sequence of the
    same page answered; the service answers only a page's newest request). `answered`: every
    sequence of the page answered OK, whenever it was sent."""
    newest = max(answered, default=None)
    return [] if newest is None else [s for s in sent if s <= newest]


def latencies_ms(sent: dict[int, float], answered: dict[int, float]) -> list[float]:
    """Send to answer, in milliseconds, of every sequence of `sent` answered itself (times in s)."""
    return [(answered[s] - t) * 1e3 for s, t in sent.items() if s in answered]


def summary_ms(values: list[float]) -> dict:
    """How many, and their p50, p90, p99 and largest (None where there are none)."""
    if not values:
        return {"count": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"count": len(values), "p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99),
            "max_ms": float(max(values))}


def raise_open_files() -> int:
    """The soft open-file limit, raised to the hard one: this process holds thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---- the page's messages ----

def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def photo_message(photo: bytes, sequence: int, model: str) -> str:
    return json.dumps({"image": b64(photo), "sequence": sequence, "model": model, "top_k": 5})


def mask_message(image_id: str, mask_b64: str, sequence: int, model: str) -> str:
    return json.dumps({"image_id": image_id, "mask": mask_b64, "sequence": sequence, "model": model, "top_k": 5})


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def ws_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}/api/stream"


def open_page(url: str):
    # As a browser's page: no compression offered, no pings of its own (the server pings).
    return connect(ws_url(url), compression=None, ping_interval=None, open_timeout=ANSWER_TIMEOUT_S,
                   close_timeout=2, max_size=1 << 20)


async def answer_to(ws, sequence: int) -> dict:
    """The answer to `sequence` (answers to older sequences are passed over)."""
    async with asyncio.timeout(ANSWER_TIMEOUT_S):
        while True:
            answer = json.loads(await ws.recv())
            if answer.get("sequence") == sequence:
                if "error" in answer:
                    raise RuntimeError(f"{answer.get('code')}: {answer['error']}")
                return answer


# ---- pages: many open, idle; health checks and new painters meanwhile ----

async def health_check(host: str, port: int) -> float:
    """GET /api/health on a fresh connection: seconds to the whole answer (an error if not 200)."""
    t0 = time.monotonic()
    async with asyncio.timeout(ANSWER_TIMEOUT_S):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET /api/health HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            data = await reader.read()
        finally:
            writer.close()
    status = data.split(b" ", 2)[1] if data.count(b" ") >= 2 else b"?"
    if status != b"200":
        raise RuntimeError(f"/api/health answered {status.decode(errors='replace')}")
    return time.monotonic() - t0


async def new_painter(url: str, message: str, sequence: int) -> dict:
    """A page opening live mode: connect, send one message, wait for its answer; seconds from the
    start of the connection to the answer, and of the handshake alone."""
    t0 = time.monotonic()
    async with open_page(url) as ws:
        handshake = time.monotonic() - t0
        await ws.send(message)
        await answer_to(ws, sequence)
        return {"first_answer_s": time.monotonic() - t0, "handshake_s": handshake}


async def timed(tasks: list) -> tuple[list, int, list[str]]:
    """The results of `tasks`, how many failed, and the first few failures."""
    done = await asyncio.gather(*tasks, return_exceptions=True)
    failed = [d for d in done if isinstance(d, BaseException)]
    return [d for d in done if not isinstance(d, BaseException)], len(failed), [repr(f) for f in failed[:5]]


async def every(interval_s: float, seconds: float, start_s: float, make) -> list:
    """Open loop: `make(k)` started every `interval_s` from `start_s` into the window; the tasks."""
    loop, tasks, k = asyncio.get_running_loop(), [], 0
    t0 = loop.time()
    while start_s + k * interval_s < seconds:
        await asyncio.sleep(max(0.0, t0 + start_s + k * interval_s - loop.time()))
        tasks.append(asyncio.create_task(make(k)))
        k += 1
    return tasks


async def pages_load(url: str, pages: int, seconds: float, health_per_s: float, painter_every_s: float,
                     upload_every_s: float, samples: Path, model: str) -> dict:
    workload = load_workload(samples)
    first = workload[0]
    masks = [b64(m) for m in first.masks]
    async with open_page(url) as ws:  # one client uploads the photo; every page paints it by image_id
        await ws.send(photo_message(first.image, 1, model))
        image_id = (await answer_to(ws, 1))["image_id"]
    emit("warm")

    gate, opened_in = asyncio.Semaphore(CONNECT_AT_ONCE), []

    async def open_one(i: int):
        async with gate:
            t0 = time.monotonic()
            ws = await open_page(url)
            try:
                await ws.send(mask_message(image_id, masks[i % len(masks)], 1, model))
                await answer_to(ws, 1)
            except BaseException:
                await ws.close()
                raise
            opened_in.append(time.monotonic() - t0)
            return ws

    t_open = time.monotonic()
    open_pages, open_failures, open_errors = await timed([open_one(i) for i in range(pages)])
    open_s = time.monotonic() - t_open
    emit("open", pages=len(open_pages))

    host, port = urlsplit(url).hostname, urlsplit(url).port
    emit("measure")
    cpu0, t0 = time.process_time(), time.monotonic()
    health, painters, uploads = await asyncio.gather(
        every(1.0 / health_per_s, seconds, 0.0, lambda k: health_check(host, port)),
        every(painter_every_s, seconds, 0.0,
              lambda k: new_painter(url, mask_message(image_id, masks[k % len(masks)], 1, model), 1)),
        every(upload_every_s, seconds, upload_every_s / 2,  # between the painters, a photo never seen before
              lambda k: new_painter(url, photo_message(unique_photo(workload[k % len(workload)].image, k), 1, model),
                                    1)))
    health, health_failures, health_errors = await timed(health)
    painters, painter_failures, painter_errors = await timed(painters)
    uploads, upload_failures, upload_errors = await timed(uploads)
    window_s, load_cpu_s = time.monotonic() - t0, time.process_time() - cpu0
    emit("measured")

    async def still_open(ws) -> bool:  # a ping answered: the server's handler is there and reading
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                await (await ws.ping())
            return True
        except (WebSocketException, TimeoutError, OSError):
            return False

    alive = await asyncio.gather(*(still_open(ws) for ws in open_pages))
    close_codes = sorted({ws.close_code for ws in open_pages if ws.close_code is not None})
    await asyncio.gather(*(ws.close() for ws in open_pages), return_exceptions=True)

    def first_answers(rows: list[dict]) -> dict:
        return {**summary_ms([r["first_answer_s"] * 1e3 for r in rows]),
                "handshake_max_ms": max((r["handshake_s"] * 1e3 for r in rows), default=None)}

    return {"pages": pages, "opened": len(open_pages), "open_failures": open_failures, "open_errors": open_errors,
            "open_s": open_s, "open_page": summary_ms([s * 1e3 for s in opened_in]),
            "window_s": window_s, "load_cpu_s": load_cpu_s,
            "health": {**summary_ms([s * 1e3 for s in health]), "failures": health_failures, "errors": health_errors},
            "painters": {**first_answers(painters), "failures": painter_failures, "errors": painter_errors},
            "uploads": {**first_answers(uploads), "failures": upload_failures, "errors": upload_errors},
            "still_open": sum(alive), "close_codes": close_codes}


# ---- painters: live pages sending masks in an open loop ----

class Page:
    """One live page's record: when each sequence was sent and when its answer came."""

    def __init__(self):
        self.sent: dict[int, float] = {}
        self.answered: dict[int, float] = {}
        self.errors: dict[int, str] = {}
        self.closed_early = False

    async def receive(self, ws) -> None:
        try:
            async for text in ws:
                now, answer = time.monotonic(), json.loads(text)
                sequence = answer.get("sequence")
                if "error" in answer:
                    self.errors[sequence] = answer.get("code", "?")
                else:
                    self.answered[sequence] = now
        except WebSocketException:
            pass


async def painters_load(url: str, pages: int, rate_hz: float, seconds: float, warmup_s: float, samples: Path,
                        model: str) -> dict:
    # Enough masks that each message's differs from every earlier one (a stroke growing).
    workload = load_workload(samples, masks_per_photo=int(rate_hz * (warmup_s + seconds)) + 2)
    masks = [[b64(m) for m in w.masks] for w in workload]
    # The web tier takes only so many uploads at once per worker (its in-flight budget, counted in
    # whole largest messages): the pages upload their photos a few at a time, as a class would.
    gate = asyncio.Semaphore(UPLOADS_AT_ONCE)

    async def open_one(i: int):
        async with gate:
            for attempt in range(5):
                ws = await open_page(url)
                await ws.send(photo_message(workload[i % len(workload)].image, 1, model))
                try:
                    return ws, (await answer_to(ws, 1))["image_id"]
                except ConnectionClosed as exc:
                    if exc.rcvd is None or exc.rcvd.code != TRY_AGAIN_LATER or attempt == 4:
                        raise
                await asyncio.sleep(0.5 * (attempt + 1))

    opened = await asyncio.gather(*(open_one(i) for i in range(pages)))
    records = [Page() for _ in opened]
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5
    measure_from, measure_to = start + warmup_s, start + warmup_s + seconds

    async def paint(i: int, ws, image_id: str, page: Page) -> None:
        receiving = asyncio.create_task(page.receive(ws))
        own = masks[i % len(masks)]
        k, offset = 0, (i / pages) / rate_hz  # the pages' ticks spread over the interval, as unsynchronised pages
        while (at := start + offset + k / rate_hz) < measure_to:
            await asyncio.sleep(max(0.0, at - loop.time()))
            sequence = k + 2
            page.sent[sequence] = time.monotonic()
            try:
                await ws.send(mask_message(image_id, own[k % len(own)], sequence, model))
            except WebSocketException:  # closed by the server: what it sent after counts as not served
                page.closed_early = True
                break
            k += 1
        await asyncio.sleep(GRACE_S)
        await ws.close()
        await receiving

    async def marks() -> tuple[float, float, float]:
        """The window's events; the load generator's CPU seconds in it, its length, its start."""
        await asyncio.sleep(max(0.0, measure_from - loop.time()))
        emit("measure")
        cpu0, t0 = time.process_time(), time.monotonic()
        await asyncio.sleep(max(0.0, measure_to - loop.time()))
        emit("measured")
        return time.process_time() - cpu0, time.monotonic() - t0, t0

    window, *_ = await asyncio.gather(marks(), *(paint(i, ws, image_id, page)
                                                  for i, ((ws, image_id), page) in enumerate(zip(opened, records))))
    load_cpu_s, window_s, window_from = window
    window_to = window_from + window_s
    sent = answered = served_count = errors = 0
    latencies, worst_page = [], 1.0
    for page in records:
        in_window = {s: t for s, t in page.sent.items() if window_from <= t < window_to}
        ok = served(in_window, page.answered)
        sent, served_count = sent + len(in_window), served_count + len(ok)
        answered += sum(s in page.answered for s in in_window)
        errors += sum(s in page.errors for s in in_window)
        latencies += latencies_ms(in_window, page.answered)
        worst_page = min(worst_page, len(ok) / len(in_window) if in_window else 1.0)
    return {"pages": pages, "rate_hz": rate_hz, "window_s": window_s, "load_cpu_s": load_cpu_s, "sent": sent,
            "served": served_count, "answered": answered, "superseded": served_count - answered, "errors": errors,
            "served_fraction": served_count / sent if sent else 0.0, "worst_page_served_fraction": worst_page,
            "closed_early": sum(page.closed_early for page in records), "latency": summary_ms(latencies)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.web_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("pages", "painters"))
    parser.add_argument("--url", required=True, help="the web page's URL, http://host:port/")
    parser.add_argument("--pages", type=int, default=2000, help="pages open at once")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup-s", type=float, default=3.0, help="painters: seconds of painting before measuring")
    parser.add_argument("--rate-hz", type=float, default=5.0, help="painters: masks each page sends per second")
    parser.add_argument("--health-per-s", type=float, default=20.0, help="pages: /api/health checks per second")
    parser.add_argument("--painter-every-s", type=float, default=1.0, help="pages: seconds between new painters")
    parser.add_argument("--upload-every-s", type=float, default=3.0,
                        help="pages: seconds between new pages that upload a photo never seen before")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--samples", type=Path, default=Path("build/bench/samples"))
    args = parser.parse_args(argv)
    open_files = raise_open_files()
    if args.mode == "pages":
        result = asyncio.run(pages_load(args.url, args.pages, args.seconds, args.health_per_s, args.painter_every_s,
                                        args.upload_every_s, args.samples, args.model))
    else:
        result = asyncio.run(painters_load(args.url, args.pages, args.rate_hz, args.seconds, args.warmup_s,
                                           args.samples, args.model))
    print(json.dumps({"mode": args.mode, "open_files": open_files, **result}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
