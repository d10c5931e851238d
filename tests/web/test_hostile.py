"""A hostile client against the real web tier (gunicorn's gevent worker, `python -m web_client`)
and the real inference service: each attack gets a clear error, the worker's memory stays within
300 MB of its idle size, health keeps answering, and a painter beside it is answered all along."""

from __future__ import annotations

import base64
import io
import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import numpy as np
import pytest
import resource
from PIL import Image
from wsproto import ConnectionType, WSConnection
from wsproto.events import (AcceptConnection, CloseConnection, Message, RejectConnection, Request, TextMessage)

from maskscope.photos import mask_png
from maskscope.processes import children, peak_rss_bytes, reset_peak_rss, rss_bytes
from tests.conftest import ARTIFACTS, WebServer, png_bytes
from tests.web.test_server import post_multipart

MB = 1 << 20
MEMORY_BOUND = 300 * MB  # the bound on what any one request may add to a worker
TOKEN = "hostile-admin-token"
STUDY = {"id": "hostile", "title": "t", "consent": "c", "photos": ["coffee"],
         "steps": [{"kind": "before", "task": "paint"}, {"kind": "question", "id": "q", "text": "?", "scale": "text"}]}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Worker:
    """The web tier's one worker process, read from /proc."""

    def __init__(self, web: WebServer):
        deadline = time.monotonic() + 10
        while not children(web.process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        (self.pid,) = children(web.process.pid)
        self.idle = 0

    def growth(self) -> int:
        """How far above its idle size the worker's memory went since the last reset_peak."""
        return peak_rss_bytes(self.pid) - self.idle

    def reset_peak(self) -> None:
        reset_peak_rss(self.pid)


@pytest.fixture(scope="module")
def web(server):
    from web_client.samples import extract
    extract()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # this test holds a thousand sockets
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    process = WebServer(server.address, "--max-connections", "2000", "--study-max-participant-mb", "1",
                        "--study-max-participant-events", "40", env={"MASKSCOPE_ADMIN_TOKEN": TOKEN})
    yield process
    process.stop()


def request(url, data=None, headers=None, method=None, timeout=60):
    """(status, JSON or text) of one HTTP request; errors are answers too."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def post_early_answered(url: str, body: bytes, content_type: str = "application/json"):
    """(status, JSON) of a POST the server may answer before reading all of the body (and then
    stop reading it): what a client sees once it has sent what it could."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as s:
        head = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        try:
            s.sendall(head + body)
        except OSError:
            pass
        answer = b""
        while chunk := s.recv(1 << 16):
            answer += chunk
    head, _, text = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(text)


def post_json(url, payload, **headers):
    return request(url, json.dumps(payload).encode() if not isinstance(payload, bytes) else payload,
                   {"Content-Type": "application/json", **headers}, "POST")


def healthy(web, within_s: float = 5.0) -> float:
    """Seconds /api/health took to answer SERVING (fails past `within_s`: not a bar, a hang)."""
    start = time.monotonic()
    status, body = request(web.url + "api/health", timeout=within_s)
    assert status == 200 and body == {"inference": "SERVING"}
    return time.monotonic() - start


class Painter(threading.Thread):
    """Someone painting beside the attacks: a mask by image_id every 100 ms, every answer checked."""

    def __init__(self, web, image_id: str, shape):
        super().__init__(daemon=True)
        self.web, self.image_id, self.shape = web, image_id, shape
        self.answered, self.errors, self.stopped = 0, [], threading.Event()

    def run(self):
        k = 0
        while not self.stopped.wait(0.1):
            k += 1
            mask = np.zeros(self.shape, bool)
            mask[: 10 + k % 200, :] = True
            try:
                with post_multipart(self.web.url + "api/classify", {"image_id": self.image_id},
                                    {"mask": mask_png(mask)}, timeout=30) as response:
                    assert json.loads(response.read())["predictions"]
                self.answered += 1
            except Exception as exc:  # noqa: BLE001: any failure is what this counts
                self.errors.append(repr(exc))


@pytest.fixture(scope="module")
def coffee_id(web, photo_png):
    with post_multipart(web.url + "api/classify", {}, {"image": photo_png["coffee"]}) as response:
        return json.loads(response.read())["image_id"]


@pytest.fixture(scope="module")
def worker(web, coffee_id, photos, photo_png):
    """The worker, warmed by one of every normal request, its idle size measured after."""
    worker = Worker(web)
    mask = np.zeros(photos["coffee"].shape[:2], bool)
    mask[100:300, 100:400] = True
    page = RawPage(web.url)
    page.send(json.dumps({"image_id": coffee_id, "mask": b64(mask_png(mask)), "sequence": 1}))
    assert "predictions" in page.next_message()
    page.close()
    session = session_json(photo_png["coffee"], [mask_png(mask)] * 2)
    assert request(web.url + "api/report", session, {"Content-Type": "application/json"}, "POST")[0] == 200
    time.sleep(0.5)
    worker.idle = rss_bytes(worker.pid)
    return worker


FIGURES = ARTIFACTS / "reliability" / "hostile.json"


def record_figures(test: str, **figures) -> None:
    recorded = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    recorded[test] = figures
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(recorded, indent=1) + "\n")


@pytest.fixture
def bystander(request, web, coffee_id, photos, worker):
    """A painter while the test runs; afterwards every one of its requests was answered, health
    still answers, and the attack stayed within the memory bound (each attack's figures are
    written to artifacts/reliability/hostile.json)."""
    painter = Painter(web, coffee_id, photos["coffee"].shape[:2])
    worker.reset_peak()
    painter.start()
    yield painter
    after = painter.answered
    deadline = time.monotonic() + 15
    while painter.answered <= after and not painter.errors and time.monotonic() < deadline:
        time.sleep(0.05)  # answered after the attack too
    painter.stopped.set()
    painter.join(30)
    health_s = healthy(web)
    record_figures(request.node.name, peak_above_idle_mb=round(worker.growth() / MB, 1), idle_mb=round(worker.idle / MB),
                   painter_answered=painter.answered, health_after_ms=round(health_s * 1000, 1))
    assert painter.answered > after and not painter.errors, painter.errors
    assert worker.growth() < MEMORY_BOUND, f"the worker grew {worker.growth() / MB:.0f} MB above idle"


# ---- live mode's WebSocket at the byte level ----

class RawPage:
    """A live page, byte by byte: the handshake with any Origin, frames of any size."""

    def __init__(self, url: str, origin: str | None = "same", host: str | None = None):
        parts = urlsplit(url)
        self.host = host or f"{parts.hostname}:{parts.port}"
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        self.conn = WSConnection(ConnectionType.CLIENT)
        origin = f"http://{self.host}" if origin == "same" else origin
        extra = [("Origin", origin)] if origin else []
        self.sock.sendall(self.conn.send(Request(host=self.host, target="/api/stream", extra_headers=extra)))
        self.events: list = []
        self.accepted = self.refused_status = None
        while self.accepted is None and self.refused_status is None:
            for event in self._read():
                if isinstance(event, AcceptConnection):
                    self.accepted = True
                elif isinstance(event, RejectConnection):
                    self.refused_status = event.status_code
                else:
                    self.events.append(event)

    def _read(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("closed")
        self.conn.receive_data(data)
        return list(self.conn.events())

    def send(self, text: str) -> None:
        self.sock.sendall(self.conn.send(Message(data=text)))

    def next_event(self):
        while not self.events:
            self.events += self._read()
        return self.events.pop(0)

    def next_message(self) -> dict:
        event = self.next_event()
        assert isinstance(event, TextMessage), event
        return json.loads(event.data)

    def close(self):
        self.sock.close()


def test_a_foreign_origin_cannot_open_live_mode(web, worker):
    assert RawPage(web.url, origin="http://evil.example").refused_status == 403
    assert RawPage(web.url, origin="null").refused_status == 403
    assert RawPage(web.url).accepted  # the page's own origin
    assert RawPage(web.url, origin=None).accepted  # no browser: a script, the notebook
    # DNS rebinding: evil.example made to point at 127.0.0.1, its page "same-origin" with itself.
    port = urlsplit(web.url).port
    assert RawPage(web.url, origin=f"http://evil.example:{port}", host=f"evil.example:{port}").refused_status == 400


def test_a_100_mb_frame_is_refused_with_1009_before_it_is_kept(web, bystander, worker):
    page = RawPage(web.url)
    size = 100 * MB
    page.sock.sendall(bytes([0x81, 0xFF]) + struct.pack(">Q", size) + b"\0\0\0\0")  # one text frame, key 0
    chunk, sent = b"a" * MB, 0
    try:
        while sent < size:
            page.sock.sendall(chunk)
            sent += len(chunk)
    except OSError:  # the server closed it midway, as it should
        pass
    assert sent < size, "the whole 100 MB went in"
    error = page.next_message()
    assert error["code"] == "TOO_LARGE" and "at most" in error["error"]
    close = page.next_event()
    assert isinstance(close, CloseConnection) and close.code == 1009


def test_wrong_json_types_get_error_answers_and_the_socket_stays_open(web, bystander, coffee_id):
    page = RawPage(web.url)
    for message, says in [({"image": 123, "sequence": 4}, "image must be a string"),
                          ({"image_id": ["x"], "sequence": 5}, "image_id must be a string"),
                          ({"image_id": coffee_id, "fill": {}, "sequence": 6}, "fill must be a string"),
                          ({"image_id": coffee_id, "track": {"a": 1}, "sequence": 7}, "track must be a list"),
                          ({"image_id": coffee_id, "top_k": 2.5, "sequence": 8}, "top_k must be an integer"),
                          ([1, 2], "a JSON object"), ("not json", "must be JSON")]:
        page.send(json.dumps(message) if not isinstance(message, str) else message)
        answer = page.next_message()
        assert answer["code"] == "INVALID_ARGUMENT" and says in answer["error"], (message, answer)
    page.send(json.dumps({"image_id": coffee_id, "sequence": 9}))
    assert page.next_message()["predictions"]
    page.close()


def test_a_page_that_floods_and_never_reads_is_read_a_message_at_a_time(web, bystander, coffee_id):
    """400 messages of 1 MB each as fast as loopback goes, the answers never read: the server
    reads a message when it is done with the one before (TCP holds the rest back) and keeps only
    the newest for the service, so the flood costs one message's memory, not 400 MB."""
    page = RawPage(web.url)
    page.sock.settimeout(2)
    message = page.conn.send(Message(data=json.dumps({"image_id": coffee_id, "sequence": 1,
                                                      "mask": b64(b"\x89PNG\r\n\x1a\n" + bytes(750_000))})))
    sent, deadline = 0, time.monotonic() + 10
    try:
        while sent < 400 and time.monotonic() < deadline:
            page.sock.sendall(message)
            sent += 1
    except OSError:  # held back for two seconds: the send timed out
        pass
    assert sent > 10
    healthy(web)
    page.close()


def test_thousands_of_open_pages_and_half_sent_requests_leave_health_and_painters_answered(web, bystander,
                                                                                         coffee_id):
    """64 threads were locked out by 65 open pages; a greenlet each holds them all (past 1,024
    file descriptors too, where select() stops working)."""
    pages = [RawPage(web.url) for _ in range(1100)]
    half, opened_at = [], time.monotonic()
    for _ in range(300):
        s = socket.create_connection((urlsplit(web.url).hostname, urlsplit(web.url).port))
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")  # half a request head
        half.append(s)
    try:
        assert all(p.accepted for p in pages)
        assert max(healthy(web) for _ in range(5)) < 5
        for page in pages[-20:]:  # the last opened, on the worker's highest file descriptors
            page.send(json.dumps({"image_id": coffee_id, "sequence": 1}))
            assert page.next_message()["predictions"]
        time.sleep(max(0.0, opened_at + 6 - time.monotonic()))  # a request head has 5 s to arrive
        for s in half:
            s.settimeout(1)
            try:
                assert s.recv(1) == b"", "a half-sent head still held its connection"
            except ConnectionResetError:
                pass
        time.sleep(1)
        assert bystander.answered > 0
    finally:
        for s in half + [p.sock for p in pages]:
            s.close()


def test_bodies_only_announced_take_no_budget_and_a_trickled_one_is_cut_off(web, bystander, photos):
    """Eight clients announce 32 MB reports and send nothing; one sends 70 KB of a 100 KB body and
    stops. The budget is taken as bytes arrive, so an upload beside them is read at once; the
    stalled body is cut off in its time (10 s and its size at 64 KiB/s) with 408."""
    parts = urlsplit(web.url)

    def announce(path: str, length: int, send: bytes = b"") -> socket.socket:
        s = socket.create_connection((parts.hostname, parts.port), timeout=30)
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {length}\r\n\r\n".encode() + send)
        return s
    stalled = [announce("/api/report", 32 * MB) for _ in range(8)]
    trickled = announce("/api/faithfulness", 100_000, b"[" + b"1," * 35_000)
    start = time.monotonic()
    try:
        mask = np.zeros(photos["coffee"].shape[:2], bool)
        mask[::2, ::3] = True  # a mask of a few hundred KB
        with post_multipart(web.url + "api/classify", {}, {"image": png_bytes(photos["coffee"]),
                                                          "mask": mask_png(mask)}) as response:
            assert json.loads(response.read())["predictions"]
        answer = b""
        while b"too slowly" not in answer and (chunk := trickled.recv(4096)):
            answer += chunk
        assert b" 408 " in answer.split(b"\r\n")[0] and b"too slowly" in answer
        assert 10 < time.monotonic() - start < 20
    finally:
        for s in stalled + [trickled]:
            s.close()


def test_twenty_pages_sending_16_mb_photos_at_once_stay_within_the_in_flight_budget(web, worker, coffee_id):
    """Each alone is bounded; together they are bounded by the in-flight budget (256 MiB here):
    those past it are told to try again (1013), and the worker stays within the budget and one
    request's 300 MB above idle."""
    rng = np.random.default_rng(1)
    photo = b"\x89PNG\r\n\x1a\n" + rng.integers(0, 256, 16 * MB - 200_000, dtype=np.uint8).tobytes()
    pages = [RawPage(web.url) for _ in range(20)]
    frame = pages[0].conn.send(Message(data=json.dumps({"image": b64(photo), "sequence": 1})))
    del photo
    worker.reset_peak()
    outcomes = []

    def upload(page):
        try:
            page.sock.sendall(frame)
        except OSError:
            pass
        event = page.next_event()
        outcomes.append(json.loads(event.data).get("code") if isinstance(event, TextMessage) else type(event))
    threads = [threading.Thread(target=upload, args=(page,)) for page in pages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    healthy(web)
    assert len(outcomes) == 20 and "BUSY" in outcomes, outcomes  # the budget turned some away...
    assert set(outcomes) <= {"BUSY", "INVALID_ARGUMENT"}, outcomes  # ...the rest reached the service (not a photo)
    record_figures("test_twenty_pages_sending_16_mb_photos_at_once_stay_within_the_in_flight_budget",
                   peak_above_idle_mb=round(worker.growth() / MB, 1), busy=outcomes.count("BUSY"))
    assert worker.growth() < 256 * MB + MEMORY_BOUND, f"the worker grew {worker.growth() / MB:.0f} MB above idle"
    for page in pages:
        page.close()


# ---- reports ----

def session_json(photo: bytes, masks: list[bytes], steps: int | None = None) -> bytes:
    masks = masks if steps is None else [b""] * steps
    return json.dumps({"format": "maskscope-session", "version": 1, "model": "", "fill": "gray",
                       "image": {"name": "p.png", "data": b64(photo)},
                       "steps": [{"title": f"s{i}", "mask": b64(m), "predictions": []} for i, m in enumerate(masks)]
                       }).encode()


def test_a_report_of_8000_steps_is_refused_before_it_is_drawn(web, bystander):
    photo = png_bytes(np.full((240, 320, 3), 90, np.uint8))
    body = session_json(photo, [], steps=8000)
    assert 400_000 < len(body) < 600_000  # the 443 KB
    status, answer = post_json(web.url + "api/report", body)
    assert status == 400 and "8,000 steps" in answer["error"] and "at most 300" in answer["error"]


def test_a_report_of_huge_masks_is_refused_from_their_headers(web, bystander):
    photo = png_bytes(np.full((240, 320, 3), 90, np.uint8))
    huge = mask_png(np.zeros((12_000, 12_000), bool) | (np.arange(12_000)[:, None] == 5))  # 17 KB each
    status, answer = post_json(web.url + "api/report", session_json(photo, [huge] * 20))
    assert status == 400 and "12000x12000" in answer["error"] and "320x240" in answer["error"]


def test_a_report_body_of_millions_of_tiny_values_is_refused_before_it_is_parsed(web, bystander):
    body = b'{"format": "maskscope-session", "steps": [' + b"{}," * 3_000_000 + b"{}]}"
    status, answer = post_early_answered(web.url + "api/report", body)
    assert status == 413 and "values" in answer["error"]


def test_a_long_report_within_the_limits_streams_in_bounded_memory(web, bystander, photos):
    photo = png_bytes(photos["coffee"])
    masks = []
    for k in range(300):
        mask = np.zeros(photos["coffee"].shape[:2], bool)
        mask[:, : k * 2] = True
        masks.append(mask_png(mask))
    status, text = request(web.url + "api/report", session_json(photo, masks), {"Content-Type": "application/json"},
                           "POST", timeout=120)
    assert status == 200 and text.count(b"<tr><td class=step>") == 300


# ---- the API's other bodies ----

def test_json_bodies_are_bounded_by_route_and_cross_site_posts_refused(web, bystander):
    status, answer = post_early_answered(web.url + "api/faithfulness", b'{"maps": [' + b"1," * 600_000 + b"1]}")
    assert status == 413 and "the limit here is 1 MB" in answer["error"]
    unclosed = b'"' + b'\\"' * 450_000  # a string that never ends (a regex retried it from every quote)
    status, answer = post_json(web.url + "api/faithfulness", unclosed)
    assert status == 400 and "not valid JSON" in answer["error"]
    status, answer = post_json(web.url + "api/faithfulness", b"[" * 5_000 + b"]" * 5_000)
    assert status == 400 and "nested too deeply" in answer["error"]
    status, answer = request(web.url + "api/report", b"{}", {"Content-Type": "text/plain"}, "POST")
    assert status == 415 and "JSON" in answer["error"]  # what a cross-site form can send
    status, answer = post_json(web.url + "api/faithfulness", {}, Origin="http://evil.example")
    assert status == 403 and "another site" in answer["error"]
    try:  # a form post with no Origin (not a browser's page) goes on: here to an unknown image_id
        post_multipart(web.url + "api/classify", {"image_id": "ab" * 32}, {})
        status = 200
    except urllib.error.HTTPError as error:
        status = error.code
    assert status == 404


def test_faithfulness_on_a_huge_flat_photo_is_bounded_by_what_it_sends(web, bystander):
    """The issue's case: a 131 KB flat PNG of 6,000 x 6,600 pixels, then steps: 50."""
    out = io.BytesIO()
    Image.new("RGB", (6000, 6600), (120, 130, 140)).save(out, "PNG", optimize=True)
    assert len(out.getvalue()) < 300_000
    with post_multipart(web.url + "api/classify", {}, {"image": out.getvalue()}, timeout=120) as response:
        image_id = json.loads(response.read())["image_id"]
    one_map = {"m": {"rows": 8, "cols": 8, "drop": list(range(64)),
                     "crop": {"left": 0, "top": 0, "right": 6000, "bottom": 6600}}}
    status, answer = post_json(web.url + "api/faithfulness",
                               {"image_id": image_id, "class_index": 1, "steps": 50, "maps": one_map})
    assert status == 400 and "megapixels" in answer["error"]
    status, answer = post_json(web.url + "api/faithfulness",
                               {"image_id": image_id, "class_index": 1, "steps": 10, "maps": one_map})
    assert status == 200 and len(answer["curves"]["m"]["probabilities"]) == 11


# ---- study mode ----

@pytest.fixture(scope="module")
def study(web):
    admin = {"Authorization": f"Bearer {TOKEN}"}
    assert post_json(web.url + "api/admin/studies", STUDY, **admin)[0] == 201
    yield admin
    request(web.url + f"api/admin/studies/{STUDY['id']}", headers=admin, method="DELETE")


def join(web):
    status, body = post_json(web.url + f"api/study/{STUDY['id']}/participants", {})
    assert status == 201
    base = web.url + f"api/study/{STUDY['id']}/participants/{body['participant']}/events"
    assert post_json(base, {"kind": "consent", "step": 0, "payload": {}})[0] == 201
    return base


def test_a_participant_cannot_store_without_bound(web, bystander, study):
    """The issue's case: answers of 250 KB, as many as the write rate allows. Here each participant
    may store 1 MB and 40 events (--study-max-participant-mb, --study-max-participant-events)."""
    base = join(web)
    status, answer = post_json(base, {"kind": "answer", "step": 0, "payload": {"value": "x" * 250_000}})
    assert status == 413 and "at most 65,536" in answer["error"]  # an answer is text, not a quarter MB
    payload = {"value": "x" * 60_000}
    fits = (MB - len("{}")) // len(json.dumps(payload, separators=(",", ":")))  # after the consent's "{}"
    answers = [post_json(base, {"kind": "answer", "step": 0, "payload": payload}) for _ in range(fits + 2)]
    assert [s for s, _ in answers] == [201] * fits + [413] * 2
    assert "may store at most 1 MB" in answers[-1][1]["error"]
    other = join(web)
    strokes = []
    for _ in range(42):
        strokes.append(post_json(other, {"kind": "stroke", "step": 0, "payload": {"photo": 0}}))
        time.sleep(0.12)  # under the write rate (10 a second): what refuses these is the quota
    assert [s for s, _ in strokes] == [201] * 39 + [429] * 3  # the consent and 39 strokes: 40 events
    assert "40 events, the most a participant may" in strokes[-1][1]["error"]


def garbage_png(width: int, height: int) -> bytes:
    """A PNG whose every chunk is well formed (checksums right), its pixel data not zlib at all:
    it opens, and fails only when decoded."""
    import zlib
    nonsense = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", nonsense) + chunk(b"IEND", b"")


def test_maps_are_decoded_and_sized_when_stored_and_the_summary_stays_readable(web, bystander, study, photos):
    base = join(web)
    height, width = photos["coffee"].shape[:2]
    garbage = garbage_png(width, height)
    status, answer = post_json(base, {"kind": "map", "step": 0, "payload": {"photo": 0, "mask": b64(garbage)}})
    assert status == 400 and "decodes whole" in answer["error"]
    empty = mask_png(np.zeros((7071, 7071), bool) | (np.arange(7071)[:, None] == 0))
    status, answer = post_json(base, {"kind": "map", "step": 0, "payload": {"photo": 0, "mask": b64(empty)}})
    assert status == 400 and "7071x7071" in answer["error"] and f"{width}x{height}" in answer["error"]
    good = np.zeros((height, width), bool)
    good[100:300, 200:400] = True
    assert post_json(base, {"kind": "map", "step": 0, "payload": {"photo": 0, "mask": b64(mask_png(good))}})[0] == 201
    status, summary = request(web.url + f"api/admin/studies/{STUDY['id']}/summary.json", headers=study, timeout=120)
    assert status == 200 and summary["overall"]["participants"] >= 1
