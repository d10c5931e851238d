"""Every bound on what one client can make the web tier do, in one place: the numbers, their
flags, and the small pure rules that apply them (docs/reliability.md lists each, with the error a
client gets). A route, a live message or a study write is checked against these before work that
its size would make costly."""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import threading
from dataclasses import dataclass, fields

from maskscope.flags import add_flag
from maskscope.limits import UPLOAD_MB

MiB = 1 << 20
SMALL_BODY_BYTES = 64 * 1024  # bodies up to this size are never counted against the in-flight budget
BUSY_MESSAGE = "the server is busy receiving other uploads: try again in a moment"
# What base64 makes of n bytes, and a live message's other fields (mask, model, fill, track...).
LIVE_MESSAGE_SLACK_BYTES = 64 * 1024
# A study event as stored: one that may carry a mask (a map, a logged classification) and any other
# (an answer's text, a stroke's count); its body may arrive escaped or indented, twice as long.
MAX_EVENT_BYTES = 256 * 1024  # a mask of a large photo as a 1-bit PNG, with room to spare
MAX_SMALL_EVENT_BYTES = 64 * 1024
STUDY_EVENT_BODY_FACTOR = 2
# A study's classification is logged with its mask, as base64 (4/3 of its size) beside the answer.
MAX_LOGGED_MASK_BYTES = MAX_EVENT_BYTES * 3 // 4 - 16 * 1024
# How often a participant may write (and an address join): a live painter classifies a few times
# a second, a script far more; participants remembered at once, the oldest forgotten first.
STUDY_WRITES_PER_S, STUDY_WRITE_BURST, STUDY_WRITERS_REMEMBERED = 10.0, 30, 100_000
MAX_TRACKED = 32  # classes one classification follows whatever their rank
MAX_FAITHFULNESS_MAPS, MAX_FAITHFULNESS_STEPS = 4, 50  # within the classification budget below


@dataclass(frozen=True)
class Limits:
    """The web tier's limits; `from_args` reads them from the flags added by `add_flags`."""

    upload_mb: float = UPLOAD_MB             # a photo or mask upload (multipart routes)
    max_connections: int = 4096              # open connections per worker process (WebSockets included)
    ws_idle_timeout_s: float = 300.0         # a live page that sends nothing for this long is closed
    ws_ping_interval_s: float = 25.0         # pings keep proxies' idle timers off; no answer closes
    inflight_upload_mb: float = 256.0        # memory for large bodies worked on at once, per worker process
    report_steps: int = 300                  # steps of one session report
    report_mask_megapixels: float = 1000.0   # all a report's masks together
    faithfulness_classifications: int = 128  # one /api/faithfulness call: (steps + 1) x (maps + random) x curves
    faithfulness_mask_megapixels: float = 1000.0  # ... and its masks' pixels, all of them together
    study_participant_events: int = 5000
    study_participant_mb: float = 32.0
    study_events: int = 2_000_000
    study_mb: float = 4096.0

    @property
    def upload_bytes(self) -> int:
        return int(self.upload_mb * MiB)

    @property
    def live_message_bytes(self) -> int:
        """A live-mode message: a photo of the upload limit as base64, plus its other fields."""
        return -(-self.upload_bytes // 3) * 4 + LIVE_MESSAGE_SLACK_BYTES

    @property
    def inflight_bytes(self) -> int:
        return int(self.inflight_upload_mb * MiB)

    @property
    def report_mask_pixels(self) -> int:
        return int(self.report_mask_megapixels * 1_000_000)

    @property
    def faithfulness_mask_pixels(self) -> int:
        return int(self.faithfulness_mask_megapixels * 1_000_000)

    def body_bytes(self, endpoint: str | None) -> int:
        """The largest request body `endpoint` takes: JSON routes far less than an upload."""
        small = {"maskscope.faithfulness": 1 * MiB,
                 "study.record": STUDY_EVENT_BODY_FACTOR * MAX_EVENT_BYTES,
                 "study.join": 4 * 1024,
                 "study.add_study": 1 * MiB}
        if endpoint == "maskscope.report":  # the photo as base64, and its masks
            return 2 * self.upload_bytes
        return small.get(endpoint, self.upload_bytes)


_FLAGS = {  # field: (flag, type, help)
    "upload_mb": ("--max-upload-mb", float, "largest upload (a photo or a mask), in MiB; a live message may carry "
                  "one as base64 (4/3 of it, plus 64 KiB); a session report's body twice it"),
    "max_connections": ("--max-connections", int,
                        "open connections per worker process, live pages' WebSockets included; more wait to be "
                        "accepted"),
    "ws_idle_timeout_s": ("--ws-idle-timeout-s", float,
                          "seconds a live page may send nothing before its WebSocket is closed (the page "
                          "reconnects when its user paints again)"),
    "ws_ping_interval_s": ("--ws-ping-interval-s", float,
                           "seconds between pings on an open WebSocket; a page that does not answer one by "
                           "the next is closed"),
    "inflight_upload_mb": ("--max-inflight-upload-mb", float,
                           "memory for request bodies over 64 KiB being received and worked on at once, per worker "
                           "process, in MiB, each counted as 4 times its size (its copies as it is decoded and sent "
                           "on); past it a request gets 503 and is asked to try again"),
    "report_steps": ("--max-report-steps", int, "most steps in one session report"),
    "report_mask_megapixels": ("--max-report-mask-megapixels", float,
                               "most mask pixels (millions) in one session report, all steps together"),
    "faithfulness_classifications": ("--max-faithfulness-classifications", int,
                                     "most classifications one /api/faithfulness call may ask for: "
                                     "(steps + 1) x (maps + the random order)"),
    "faithfulness_mask_megapixels": ("--max-faithfulness-mask-megapixels", float,
                                     "most mask pixels (millions) one /api/faithfulness call may send to the service: "
                                     "its classifications times the photo's pixels"),
    "study_participant_events": ("--study-max-participant-events", int, "most events stored per participant"),
    "study_participant_mb": ("--study-max-participant-mb", float, "most event data stored per participant, in MiB"),
    "study_events": ("--study-max-events", int, "most events stored per study"),
    "study_mb": ("--study-max-mb", float, "most event data stored per study, in MiB"),
}


def add_flags(parser: argparse.ArgumentParser) -> None:
    defaults = Limits()
    for field in fields(Limits):
        flag, kind, help_text = _FLAGS[field.name]
        add_flag(parser, flag, type=kind, default=getattr(defaults, field.name), help=help_text)


def _dest(name: str) -> str:
    return _FLAGS[name][0].lstrip("-").replace("-", "_")


def from_args(args: argparse.Namespace) -> Limits:
    limits = Limits(**{f.name: getattr(args, _dest(f.name)) for f in fields(Limits)})
    for field in fields(Limits):
        if getattr(limits, field.name) <= 0:
            raise ValueError(f"{_FLAGS[field.name][0]} must be above 0; got {getattr(limits, field.name)}")
    return limits


def from_environment() -> Limits:
    """The limits as the flags' env twins set them (an app made without flags: the tests, `flask run`)."""
    parser = argparse.ArgumentParser()
    add_flags(parser)
    return from_args(parser.parse_args([]))


def client_network(address: str | None) -> str:
    """Whom a per-client limit counts: an IPv4 address, or an IPv6 address's /64 (one home or
    host is given a whole /64, so its single addresses would be a way around the limit)."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return address or ""
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# What a large body costs the worker while it is read and worked on, as a multiple of its size:
# the bytes, their decoded form (base64, multipart), the request message, its serialized copy.
BODY_MEMORY_FACTOR = 4
BUDGET_STEP_BYTES = 1 << 20


class BodyBudget:
    """Memory for the large request bodies this process is reading and working on at once: a
    request takes its share as its bytes arrive and gives it back when it is done with them, so
    many large uploads at once cannot add up past the budget (each alone is bounded by its
    route's limit)."""

    def __init__(self, total_bytes: int):
        self.total = total_bytes
        self.taken = 0
        self._lock = threading.Lock()

    def grow(self, held: int, body_bytes: int) -> tuple[int, bool]:
        """A body's share, grown a MiB at a time to cover BODY_MEMORY_FACTOR times `body_bytes`:
        (what it holds now, whether that covers it; False: the budget is spent)."""
        while held < BODY_MEMORY_FACTOR * body_bytes:
            if not self.take(BUDGET_STEP_BYTES):
                return held, False
            held += BUDGET_STEP_BYTES
        return held, True

    def take(self, nbytes: int) -> bool:
        with self._lock:
            if self.taken + nbytes > self.total:
                return False
            self.taken += nbytes
            return True

    def give_back(self, nbytes: int) -> None:
        with self._lock:
            self.taken -= nbytes


_JSON_STRUCTURE = re.compile(rb'[\[{,"]')
_JSON_STRING_BODY = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*')  # up to its closing quote, escapes skipped
JSON_VALUES = {"maskscope.report": 100_000, "maskscope.faithfulness": 20_000}  # by route; else DEFAULT_JSON_VALUES
DEFAULT_JSON_VALUES = 10_000


def json_values(data: bytes, stop: int | None = None) -> int:
    """About how many values a JSON text holds (an upper bound: containers, separators, strings),
    counting up to `stop` and no further. Each value costs Python tens of bytes however short it
    is, so a body of a few MB of `{},` would take gigabytes once parsed. One pass: every string
    is read once to its end (a regex substitution retried an unclosed string from every quote,
    minutes for a body of 80 KB)."""
    count, at = 1, 0
    while (stop is None or count <= stop) and (found := _JSON_STRUCTURE.search(data, at)):
        count += 1
        at = found.end()
        if found.group() == b'"':
            at = _JSON_STRING_BODY.match(data, at).end() + 1
    return count


def parse_json(data: bytes, max_values: int):
    """The JSON value in `data`, refused (LimitExceeded) before parsing when it holds more values
    than `max_values`; ValueError when it is no JSON."""
    if json_values(data, stop=max_values) > max_values:
        raise LimitExceeded(f"the JSON body holds more than {max_values:,} values, the most this route takes")
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


class LimitExceeded(Exception):
    """A request past one of the limits: answered with `status` and the message, which names the limit."""

    def __init__(self, message: str, status: int = 413, code: str = "TOO_LARGE"):
        super().__init__(message)
        self.status, self.code = status, code


def too_large(limit: int, length: int | None = None) -> str:
    sent = f" (this one is {length / MiB:.1f} MB)" if length is not None else ""
    return f"that is too large: the limit here is {limit / MiB:g} MB{sent}"


# ---- in a Flask app ----

EXTENSION = "maskscope_limits"


def init_app(app, limits: Limits) -> None:
    """The app's limits and its in-flight budget (web_client/bodies.py applies them to bodies);
    LimitExceeded becomes its status and message."""
    from flask import jsonify
    app.extensions[EXTENSION] = (limits, BodyBudget(limits.inflight_bytes))
    app.config["MAX_CONTENT_LENGTH"] = limits.upload_bytes

    @app.errorhandler(LimitExceeded)
    def exceeded(exc: LimitExceeded):
        return jsonify({"error": str(exc), "code": exc.code}), exc.status


def get_limits() -> Limits:
    from flask import current_app
    return current_app.extensions[EXTENSION][0]


def get_budget() -> BodyBudget:
    from flask import current_app
    return current_app.extensions[EXTENSION][1]
