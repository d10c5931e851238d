"""web_client/live_socket.py over a socket pair: the handshake, messages whole however framed, a
message past its limit refused before it is kept, the in-flight budget, pings and the idle close."""

import json
import socket
import threading
import time

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import (AcceptConnection, CloseConnection, Message, Ping, Request, TextMessage)

from web_client.limits import BODY_MEMORY_FACTOR, BodyBudget
from web_client.live_socket import IDLE_CLOSE, QUIET, HandshakeError, LiveSocket


class Page:
    """The browser's side, on one end of a socket pair."""

    def __init__(self):
        self.sock, server_sock = socket.socketpair()
        self.sock.settimeout(5)
        self.conn = WSConnection(ConnectionType.CLIENT)
        head = self.conn.send(Request(host="maskscope.test", target="/api/stream")).decode()
        headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        self.environ = {"gunicorn.socket": server_sock, "PATH_INFO": "/api/stream",
                        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}}
        self.events = []

    def open(self, **options) -> LiveSocket:
        options = {"max_message_bytes": 10_000, "ping_interval_s": 30, "idle_timeout_s": 30, **options}
        ws = LiveSocket.accept(self.environ, **options)
        assert isinstance(self.next_event(), AcceptConnection)
        return ws

    def next_event(self):
        while not self.events:
            self.conn.receive_data(self.sock.recv(65536))
            self.events += list(self.conn.events())
        return self.events.pop(0)

    def send(self, text: str, finished: bool = True) -> None:
        self.sock.sendall(self.conn.send(Message(data=text, message_finished=finished)))


def test_messages_arrive_whole_however_they_are_framed_and_answers_go_back():
    page = Page()
    ws = page.open()
    page.send('{"a": ', finished=False)
    page.send('"b"', finished=False)
    page.send("}")
    page.send("second")
    assert ws.receive() == '{"a": "b"}' and ws.receive() == "second"
    ws.send("an answer")
    assert page.next_event().data == "an answer"


def test_a_message_past_its_limit_is_refused_with_1009_as_it_arrives():
    page = Page()
    ws = page.open(max_message_bytes=1000)
    page.send("x" * 600, finished=False)
    page.send("x" * 600)  # the second part passes 1,000: refused before it is joined
    assert ws.receive() is None and ws.close_code == 1009
    error = page.next_event()
    assert isinstance(error, TextMessage) and json.loads(error.data)["code"] == "TOO_LARGE"
    assert "at most 1,000 bytes" in json.loads(error.data)["error"]
    close = page.next_event()
    assert isinstance(close, CloseConnection) and close.code == 1009

    wide = Page()  # 900 characters of four bytes each: 3,600 bytes
    ws = wide.open(max_message_bytes=1000)
    wide.send("\N{GRINNING FACE}" * 900)
    assert ws.receive() is None and ws.close_code == 1009


def test_a_large_message_takes_the_in_flight_budget_as_it_grows():
    MiB = 1 << 20
    budget = BodyBudget(10 * MiB)  # a message of 1.5 MiB takes 6 (BODY_MEMORY_FACTOR 4): one fits
    page = Page()
    ws = page.open(max_message_bytes=4 * MiB, budget=budget)
    threading.Thread(target=page.send, args=("y" * (3 * MiB // 2),)).start()  # more than the pair's buffers
    assert ws.receive() == "y" * (3 * MiB // 2) and budget.taken == BODY_MEMORY_FACTOR * 3 * MiB // 2  # while worked on
    other = Page()
    crowded = other.open(max_message_bytes=4 * MiB, budget=budget)
    threading.Thread(target=other.send, args=("z" * (3 * MiB // 2),), daemon=True).start()  # no room past 1 MiB
    assert crowded.receive() is None and crowded.close_code == 1013
    assert json.loads(other.next_event().data)["code"] == "BUSY"
    page.send("small")
    assert ws.receive() == "small" and budget.taken == 0  # given back by the next receive


def test_a_message_handed_on_keeps_its_share_and_a_page_that_leaves_midway_gives_its_back():
    MiB = 1 << 20
    budget = BodyBudget(32 * MiB)
    page = Page()
    ws = page.open(max_message_bytes=4 * MiB, budget=budget)
    threading.Thread(target=page.send, args=("y" * (3 * MiB // 2),)).start()
    assert len(ws.receive()) == 3 * MiB // 2
    release = ws.hand_over()  # the message's request waits in the stream now
    page.send("small")
    assert ws.receive() == "small" and budget.taken == BODY_MEMORY_FACTOR * 3 * MiB // 2
    release()
    assert budget.taken == 0

    def half_then_gone():
        page.send("z" * (3 * MiB // 2), finished=False)
        page.sock.close()
    threading.Thread(target=half_then_gone).start()
    assert ws.receive() is None and budget.taken == 0


def test_a_quiet_page_is_reported_and_stays_open():
    page = Page()
    ws = page.open()
    assert ws.receive(quiet_s=0.2) is QUIET and not ws.closed
    page.send("later")
    assert ws.receive(quiet_s=5) == "later"


def test_an_idle_page_is_closed_with_the_idle_code_and_a_silent_one_for_not_answering_pings():
    page = Page()
    ws = page.open(idle_timeout_s=0.6, ping_interval_s=0.1)
    start, outcome = time.monotonic(), []
    server = threading.Thread(target=lambda: outcome.append(ws.receive()))  # pings go out while it waits
    server.start()
    pings = 0
    while not isinstance(event := page.next_event(), CloseConnection):
        if isinstance(event, Ping):
            pings += 1
            page.sock.sendall(page.conn.send(event.response()))  # a live browser answers pings
    server.join(5)
    assert outcome == [None] and event.code == IDLE_CLOSE and "idle" in event.reason
    assert pings >= 3 and 0.6 <= time.monotonic() - start < 3

    silent = Page()
    ws = silent.open(idle_timeout_s=30, ping_interval_s=0.2)
    assert ws.receive() is None and ws.close_code == 1001  # a ping, no answer by the next: gone


def test_what_is_no_handshake_is_refused_before_anything_is_written():
    page = Page()
    del page.environ["HTTP_SEC_WEBSOCKET_KEY"]
    with pytest.raises(HandshakeError, match="not a WebSocket handshake"):
        LiveSocket.accept(page.environ, max_message_bytes=10, ping_interval_s=1, idle_timeout_s=1)
    page.sock.settimeout(0.2)
    with pytest.raises(socket.timeout):
        page.sock.recv(1)
