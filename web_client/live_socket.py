"""Live mode's WebSocket, server side, over wsproto: bounded, pinged and closed when idle.

A message is read only when the page's handler asks for the next one, so a client that floods is
held back by TCP instead of filling memory; a message is counted as it arrives and refused (an
error, then close code 1009) as soon as it passes its limit, never kept whole; pings keep proxies'
idle timers off and find pages that are gone; a page that sends nothing for the idle time is
closed with IDLE_CLOSE, its cue to reconnect only when its user paints again. No compression is
offered (a small compressed frame could inflate a thousandfold). Works under gunicorn's gevent
workers (a socket costs a greenlet) and its threaded ones (a thread).
"""

from __future__ import annotations

import collections
import json
import select
import threading
import time

from flask import Response
from wsproto import ConnectionType, WSConnection
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Ping, Pong, Request, TextMessage)
from wsproto.utilities import ProtocolError

from web_client.limits import BUSY_MESSAGE, SMALL_BODY_BYTES, BodyBudget

IDLE_CLOSE = 4000       # private-use code: idle, so the page does not reconnect until it has something to send
MESSAGE_TOO_BIG = 1009
GOING_AWAY = 1001
PROTOCOL_ERROR = 1002
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013
RECEIVE_BYTES = 64 * 1024
SEND_TIMEOUT_S = 30.0   # a page that reads nothing for this long while answers wait is closed
CLOSE_WAIT_S = 1.0      # after our Close, how long the page has to answer it before the socket goes
CLOSE_DRAIN_BYTES = 1 << 20  # ... and how much of what it was still sending is read meanwhile


QUIET = object()  # receive()'s answer when the page has said nothing for a while


class HandshakeError(ValueError):
    """Not a WebSocket handshake this server can accept; the message says why."""


class Closed(Exception):
    """The socket is closed: nothing more can be sent."""


def _raw_socket(environ):
    for key in ("gunicorn.socket", "werkzeug.socket"):
        if key in environ:
            return environ[key]
    raise HandshakeError("this server cannot hand a connection over to a WebSocket")


def _request_head(environ) -> bytes:
    """The handshake request again, as the HTTP server parsed it, for wsproto to check and answer."""
    target = environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
    lines = [f"GET {target} HTTP/1.1"]
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            lines.append(f"{key[5:].replace('_', '-').title()}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class LiveSocket:
    def __init__(self, sock, connection: WSConnection, *, max_message_bytes: int, ping_interval_s: float,
                 idle_timeout_s: float, budget: BodyBudget | None = None, clock=time.monotonic):
        self.sock = sock
        self.max_message_bytes = max_message_bytes
        self.budget = budget  # a large message's share (BodyBudget.grow) is held until the next receive()
        self._reserved = 0
        self.ping_interval_s = ping_interval_s
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock
        self.closed = False
        self.close_code: int | None = None
        self._connection = connection
        self._lock = threading.Lock()  # wsproto's state and the socket's writes, between reader and senders
        self._messages: collections.deque = collections.deque()
        self._parts: list = []
        self._part_bytes = 0
        now = clock()
        self._idle_deadline = now + idle_timeout_s
        self._next_ping = now + ping_interval_s
        self._ping_unanswered = False
        # poll, not select: select takes no file descriptor past 1,023, and a worker holding
        # thousands of pages has many (gevent's poll waits as a greenlet, as its select does).
        self._readable = select.poll()
        self._readable.register(sock, select.POLLIN)
        sock.settimeout(SEND_TIMEOUT_S)

    @classmethod
    def accept(cls, environ, **options) -> "LiveSocket":
        """Answers the handshake in `environ` and takes its connection over; HandshakeError when
        it is no WebSocket handshake (nothing has been written then: answer it with an HTTP error)."""
        connection = WSConnection(ConnectionType.SERVER)
        try:
            connection.receive_data(_request_head(environ))
            if not any(isinstance(event, Request) for event in connection.events()):
                raise HandshakeError("not a WebSocket handshake")
        except ProtocolError as exc:
            raise HandshakeError(f"not a WebSocket handshake: {exc}") from None
        sock = _raw_socket(environ)
        sock.sendall(connection.send(AcceptConnection()))
        return cls(sock, connection, **options)

    def receive(self, quiet_s: float = float("inf")) -> str | bytes | object | None:
        """The next message; QUIET when none came for `quiet_s` (the socket stays open); None once
        the socket is closed: by the page, or here (idle, no answer to a ping, a message past its
        limit, a broken frame, the upload budget spent)."""
        self._give_back()  # the handler is done with the previous message (unless it handed it on)
        try:
            message = self._next_message(quiet_s)
        except Closed:
            message = None
        if message is None:
            self._give_back()  # a message cut short by the page's going
        return message

    def hand_over(self):
        """The last message's share of the in-flight budget, for whoever keeps the message after
        the next receive(): a function that gives it back."""
        share, self._reserved = self._reserved, 0
        return (lambda: self.budget.give_back(share)) if share else (lambda: None)

    def _next_message(self, quiet_s: float) -> str | bytes | object | None:
        quiet_at = self.clock() + quiet_s
        while not self._messages:
            if self.closed:
                return None
            now = self.clock()
            if now >= self._idle_deadline:
                self.close(IDLE_CLOSE, f"idle for {self.idle_timeout_s:g} s: reconnect to go on")
                return None
            if now >= self._next_ping:
                if self._ping_unanswered:
                    self.close(GOING_AWAY, "no answer to a ping")
                    return None
                self._ping_unanswered = True
                self._next_ping = now + self.ping_interval_s
                self._write(Ping())
                continue
            if self._wait_readable(min(self._idle_deadline, self._next_ping, quiet_at) - now):
                self._read()
            elif self.clock() >= quiet_at:
                return QUIET
        return self._messages.popleft()

    def send(self, text: str) -> None:
        self._write(TextMessage(data=text))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Sends a Close with `code` and `reason`, waits a moment for the page's, and lets the socket go."""
        self._give_back()
        with self._lock:
            if self.closed:
                return
            self.closed, self.close_code = True, code
            try:
                self.sock.sendall(self._connection.send(CloseConnection(code=code, reason=reason[:120])))
            except (OSError, ProtocolError):
                return
        deadline, drain = self.clock() + CLOSE_WAIT_S, CLOSE_DRAIN_BYTES
        try:  # the page's Close (or a little of what it was still sending) is read and dropped, not parsed
            while drain > 0 and (left := deadline - self.clock()) > 0 and self._wait_readable(left):
                data = self.sock.recv(RECEIVE_BYTES)
                if not data:
                    break
                drain -= len(data)
        except OSError:
            pass

    # ---- inside ----

    def _wait_readable(self, seconds: float) -> bool:
        return bool(self._readable.poll(max(0, round(seconds * 1000))))

    def _write(self, event) -> None:
        with self._lock:
            if self.closed:
                raise Closed()
            try:
                self.sock.sendall(self._connection.send(event))
            except (OSError, ProtocolError):  # gone, or not reading for SEND_TIMEOUT_S
                self.closed = True
                raise Closed() from None

    def _read(self) -> None:
        try:
            data = self.sock.recv(RECEIVE_BYTES)
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return
        try:
            with self._lock:
                self._connection.receive_data(data)
                events = list(self._connection.events())
        except ProtocolError:
            self.close(PROTOCOL_ERROR, "not a valid WebSocket frame")
            return
        for event in events:
            if isinstance(event, (TextMessage, BytesMessage)):
                if not self._message_part(event):
                    return
            elif isinstance(event, Ping):
                self._write(event.response())
            elif isinstance(event, Pong):
                self._ping_unanswered = False
            elif isinstance(event, CloseConnection):
                with self._lock:
                    self.closed, self.close_code = True, event.code
                    try:
                        self.sock.sendall(self._connection.send(event.response()))
                    except (OSError, ProtocolError):
                        pass
                return

    def _refuse(self, code: int, error: str, close_code: int, reason: str) -> bool:
        """An error answer the page can show, then a Close that says the same."""
        self._parts, self._part_bytes = [], 0  # before the budget is given back: this memory goes first
        try:
            self.send(json.dumps({"sequence": 0, "error": error, "code": code}))
        except Closed:
            pass
        self.close(close_code, reason)
        return False

    def _give_back(self) -> None:
        if self._reserved:
            self.budget.give_back(self._reserved)
            self._reserved = 0

    def _message_part(self, event) -> bool:
        """Keeps a part of a message; False (and the socket closed) once the message is too large."""
        # Bytes, not characters: a character may be four of them on the wire and in memory.
        self._part_bytes += len(event.data.encode()) if isinstance(event.data, str) else len(event.data)
        if self._part_bytes > self.max_message_bytes:
            limit = f"a live message is at most {self.max_message_bytes:,} bytes"
            return self._refuse("TOO_LARGE", f"{limit}; this one is larger", MESSAGE_TOO_BIG, limit)
        if self.budget is not None and self._part_bytes > SMALL_BODY_BYTES:  # taken as the message grows
            self._reserved, covered = self.budget.grow(self._reserved, self._part_bytes)
            if not covered:
                return self._refuse("BUSY", BUSY_MESSAGE, TRY_AGAIN_LATER, "busy receiving other uploads")
        self._parts.append(event.data)
        if event.message_finished:
            parts, self._parts, self._part_bytes = self._parts, [], 0
            self._messages.append(parts[0] if len(parts) == 1 else type(parts[0])().join(parts))
            self._idle_deadline = self.clock() + self.idle_timeout_s
        return True


class TakenOver(Response):
    """What a view returns once its connection is a WebSocket: gunicorn's workers then write
    nothing more on it and close it (they take StopIteration as "closing connection")."""

    def __call__(self, environ, start_response):
        if "gunicorn.socket" in environ:
            raise StopIteration()
        return super().__call__(environ, start_response)
