"""The link between a front-end process and the model process: model inputs in shared memory,
small messages over a Unix socket.

Each front-end has an arena of slots (a memfd both processes map) and a socket pair. To run an
input, the front-end writes it into a free slot and sends SUBMIT (slot, model, priority,
deadline); the model process queues a view of that slot in the model's batcher, and when the
batch has run it writes the class probabilities into the slot's output area and answers DONE
(the top classes, the batch's figures) or ERROR (a gRPC code and message). Every SUBMIT gets
exactly one answer, and a slot is free again only then: CANCEL (the caller went away) takes the
request off the queue if it is still there, answered ERROR CANCELLED.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
import pickle
import queue
import socket
import struct
import threading
import time

import grpc
import numpy as np

from inference_service.batching.batcher import Arrivals, BatchStats, Pending, Sink
from inference_service.batching.postprocess import Ranked
from inference_service.errors import RequestError, ResourceExhausted, Unavailable
from inference_service.runtimes.models import Catalog

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("<I")
# front-end -> model process
SUBMIT, CANCEL, METRICS_TEXT, READY = 1, 2, 3, 4
_SUBMIT = struct.Struct("<BIHBd")  # kind, slot, model index, priority, deadline (0: none)
_SLOT = struct.Struct("<BI")  # kind, slot (or request number)
# model process -> front-end
DONE, ERROR, METRICS_REQUEST, CATALOG = 1, 2, 3, 4
_DONE = struct.Struct("<BIHfffB")  # kind, slot, batch size, queue s, inference s, prepare s, top classes
_TOP = struct.Struct("<If")  # class index, probability
_ERROR = struct.Struct("<BIB")  # kind, slot, gRPC status code value; then the message (UTF-8)
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def frame(body: bytes) -> bytes:
    return _LENGTH.pack(len(body)) + body


def split_frames(buffer: bytearray) -> list[bytes]:
    """Takes every complete frame off the front of `buffer`."""
    frames, position = [], 0
    while len(buffer) - position >= 4:
        (length,) = _LENGTH.unpack_from(buffer, position)
        if len(buffer) - position - 4 < length:
            break
        frames.append(bytes(buffer[position + 4:position + 4 + length]))
        position += 4 + length
    del buffer[:position]
    return frames


class Arena:
    """`slots` slots of shared memory, each an input area (the largest model input) and an
    output area (the most classes), mapped from a memfd that both processes hold."""

    def __init__(self, fd: int, slots: int, input_floats: int, output_floats: int):
        self.fd, self.slots = fd, slots
        self.input_floats, self.output_floats = input_floats, output_floats
        self.stride = (input_floats + output_floats) * 4
        self._map = mmap.mmap(fd, slots * self.stride)
        self._floats = np.frombuffer(self._map, np.float32).reshape(slots, input_floats + output_floats)

    @classmethod
    def create(cls, name: str, slots: int, input_floats: int, output_floats: int) -> "Arena":
        """A new arena; its memory is taken from the system only where slots are written."""
        fd = os.memfd_create(name)
        os.ftruncate(fd, slots * (input_floats + output_floats) * 4)
        return cls(fd, slots, input_floats, output_floats)

    def release_fd(self) -> None:
        """Closes the memfd once it is mapped (and handed to the front-end): the memory lives as
        long as a mapping of it does, here until the last view of a slot is gone."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def input(self, slot: int, size: int) -> np.ndarray:
        return self._floats[slot, :3 * size * size].reshape(3, size, size)

    def output(self, slot: int, classes: int) -> np.ndarray:
        return self._floats[slot, self.input_floats:self.input_floats + classes]


def arena_shape(catalog: Catalog) -> tuple[int, int]:
    """(input floats, output floats) that a slot needs for every model of the catalog."""
    models = catalog.models.values()
    return (max(3 * m.metadata.input_size ** 2 for m in models), max(len(m.metadata.labels) for m in models))


# -- the model process's side ------------------------------------------------------------------

class LinkServer(Sink):
    """One front-end's link, in the model process: its SUBMITs into the models' batchers, their
    outcomes back. `queues` is the model process's ModelQueues."""

    def __init__(self, index: int, sock: socket.socket, arena: Arena, queues, on_ready=None):
        self.index = index
        self.arena = arena
        self.queues = queues
        self.names = sorted(queues.catalog.models)
        self._models = [queues.catalog.models[name] for name in self.names]
        self._sock = sock
        # A front-end that stops reading for this long is taken for dead (a kernel send timeout:
        # the socket stays blocking for its reader thread).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 10, 0))
        # Answers are sent by a thread of the link's own: a slow front-end never holds up a model
        # worker, which only queues them.
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._pending: dict[int, tuple[str, Pending]] = {}
        self._pending_lock = threading.Lock()
        self._metrics: dict[int, tuple[threading.Event, list]] = {}
        self._metrics_number = 0
        self.on_ready = on_ready
        self.ready = threading.Event()
        self.closed = threading.Event()
        self._threads = [threading.Thread(target=self._read, name=f"link-{index}-read", daemon=True),
                         threading.Thread(target=self._write, name=f"link-{index}-write", daemon=True)]

    def start(self) -> None:
        self._send(frame(bytes([CATALOG]) + pickle.dumps(self.queues.catalog)))
        for thread in self._threads:
            thread.start()

    def _read(self) -> None:
        buffer = bytearray()
        try:
            while True:
                data = self._sock.recv(1 << 16)
                if not data:
                    break
                buffer += data
                submitted: dict[str, list[Pending]] = {}
                for body in split_frames(buffer):
                    self._handle(body, submitted)
                for name, pendings in submitted.items():  # together: one wake-up of the workers
                    refused = self.queues.put_many(name, pendings)
                    if refused:
                        self.fail(refused)
        except OSError:
            pass
        except Exception:
            log.exception("front-end %d: its link failed", self.index)
        finally:
            self.close()
            self._outbox.put(None)  # the writer stops too, and closes the socket

    def _write(self) -> None:
        while True:
            data = self._outbox.get()
            more = [data] if data is not None else []
            while data is not None and not self._outbox.empty():  # all that is waiting, in one send
                data = self._outbox.get()
                if data is not None:
                    more.append(data)
            if more and not self.closed.is_set():
                try:
                    self._sock.sendall(b"".join(more))
                except OSError:
                    log.warning("front-end %d: its link is gone", self.index)
                    self.close()
            if data is None:
                self._sock.close()
                return

    def _handle(self, body: bytes, submitted: dict[str, list[Pending]]) -> None:
        kind = body[0]
        if kind == SUBMIT:
            _, slot, model, priority, deadline = _SUBMIT.unpack(body)
            name = self.names[model]
            size = self._models[model].metadata.input_size
            pending = Pending(self.arena.input(slot, size), self, slot, time.monotonic(), deadline or None, priority)
            with self._pending_lock:
                self._pending[slot] = (name, pending)
            submitted.setdefault(name, []).append(pending)
        elif kind == CANCEL:
            _, slot = _SLOT.unpack(body)
            with self._pending_lock:
                entry = self._pending.get(slot)
            if entry is not None and self.queues.discard(*entry):
                self.fail([(entry[1], RequestError("cancelled by its caller"))], code=grpc.StatusCode.CANCELLED)
        elif kind == METRICS_TEXT:
            _, number = _SLOT.unpack_from(body)
            waiting = self._metrics.get(number)
            if waiting is not None:
                waiting[1].append(body[_SLOT.size:].decode())
                waiting[0].set()
        elif kind == READY:
            self.ready.set()
            if self.on_ready is not None:
                self.on_ready(self)

    def deliver(self, results) -> None:
        frames = []
        for pending, ranked, stats in results:
            slot = pending.token
            out = self.arena.output(slot, len(ranked.probabilities))
            out[:] = ranked.probabilities
            top = b"".join(_TOP.pack(i, p) for i, p in ranked.best)
            frames.append(frame(_DONE.pack(DONE, slot, stats.size, stats.queue_s, stats.inference_s, 0.0,
                                           len(ranked.best)) + top))
        self._forget(pending for pending, _, _ in results)
        self._send(b"".join(frames))

    def fail(self, failures, code: grpc.StatusCode | None = None) -> None:
        frames = []
        for pending, exc in failures:
            status = code or (exc.code if isinstance(exc, RequestError) else grpc.StatusCode.INTERNAL)
            message = exc.message if isinstance(exc, RequestError) else \
                "the model failed to run this request; see the server's log"
            if not isinstance(exc, RequestError):
                log.error("front-end %d: a request failed: %r", self.index, exc)
            frames.append(frame(_ERROR.pack(ERROR, pending.token, status.value[0]) + message.encode()))
        self._forget(pending for pending, _ in failures)
        self._send(b"".join(frames))

    def _forget(self, pendings) -> None:
        with self._pending_lock:
            for pending in pendings:
                entry = self._pending.get(pending.token)
                if entry is not None and entry[1] is pending:
                    del self._pending[pending.token]

    def metrics_text(self, timeout_s: float = 2.0) -> str | None:
        """The front-end's metrics, as Prometheus text (None if it does not answer in time)."""
        with self._pending_lock:
            self._metrics_number += 1
            number = self._metrics_number
        waiting = self._metrics[number] = (threading.Event(), [])
        try:
            self._send(frame(_SLOT.pack(METRICS_REQUEST, number)))
            return waiting[1][0] if waiting[0].wait(timeout_s) else None
        finally:
            del self._metrics[number]

    def _send(self, data: bytes) -> None:
        if not self.closed.is_set():
            self._outbox.put(data)

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        with self._pending_lock:
            left = list(self._pending.values())
            self._pending.clear()
        for name, pending in left:  # nobody is there to answer: take them off the queues
            self.queues.discard(name, pending)
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def __hash__(self):
        return id(self)


# -- the front-end's side ----------------------------------------------------------------------

class RemoteModelQueues:
    """The models' batchers as a front-end sees them: `submit` as ModelQueues has it, the work
    done in the model process across the link."""

    def __init__(self, sock: socket.socket, arena_fd: int, slots: int, metrics_text=None):
        self._sock = sock
        self._sock.setblocking(False)
        self._arena_fd, self._slots = arena_fd, slots
        self._metrics_text = metrics_text  # () -> this process's metrics, for the model process to merge
        self.catalog: Catalog | None = None
        # Requests being decoded here, by model, as ModelQueues counts them. They stay here: the
        # model process's batchers wait for company only as long as their last batch held.
        self._arrivals: dict[str, Arrivals] = {}
        self.closed = asyncio.Event()
        self._free: list[int] = list(range(slots - 1, -1, -1))  # a stack: recently used slots first
        self._waiting: dict[int, tuple[asyncio.Future | None, int]] = {}  # slot: (caller, the model's classes)
        self._buffer = bytearray()
        self._out = bytearray()
        self._writing = False  # waiting for the socket to take more

    async def connect(self) -> None:
        """Waits for the model process's catalog, then reads its answers as they come."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        while self.catalog is None:
            data = await loop.sock_recv(self._sock, 1 << 16)
            if not data:
                raise Unavailable("the model process closed the link before sending its models")
            self._buffer += data
            frames = split_frames(self._buffer)
            if frames:
                if frames[0][0] != CATALOG:
                    raise RuntimeError("the model process did not start with its models")
                self.catalog = pickle.loads(frames[0][1:])
                for body in frames[1:]:
                    self._handle(body)
        self._names = sorted(self.catalog.models)
        self._index = {name: i for i, name in enumerate(self._names)}
        self._arrivals = {name: Arrivals() for name in self._names}
        self.arena = Arena(self._arena_fd, self._slots, *arena_shape(self.catalog))
        self.arena.release_fd()
        loop.add_reader(self._sock.fileno(), self._on_readable)

    def ready(self) -> None:
        """Tells the model process that this front-end is serving."""
        self._write(frame(_SLOT.pack(READY, 0)))

    def start(self) -> None:
        """The batchers run in the model process."""

    async def stop(self) -> None:
        self.close()

    @property
    def free_slots(self) -> int:
        return len(self._free)

    def arrivals(self, model: str) -> Arrivals:
        return self._arrivals[model]

    def makes_inputs(self, model: str) -> bool:
        """Inputs are made here, before they cross the link (see ModelQueues.makes_inputs)."""
        return False

    async def submit(self, model: str, item: np.ndarray, deadline: float | None = None, priority: int = 0):
        if self.closed.is_set():
            raise Unavailable("the model process is gone; this server is stopping")
        if not self._free:
            raise ResourceExhausted(f"this front-end has {self._slots} requests in flight; "
                                    "the server is overloaded, try again shortly")
        meta = self.catalog.models[model].metadata
        slot = self._free.pop()
        try:
            np.copyto(self.arena.input(slot, meta.input_size), item)
        except BaseException:
            self._free.append(slot)
            raise
        future = self._loop.create_future()
        self._waiting[slot] = (future, len(meta.labels))
        self._write(frame(_SUBMIT.pack(SUBMIT, slot, self._index[model], priority, deadline or 0.0)))
        try:
            ranked, stats = await future
        except asyncio.CancelledError:
            # Still waiting for its answer (not answered in the same turn, the slot perhaps taken
            # by another caller since): the slot stays taken until the answer comes.
            if not self.closed.is_set() and self._waiting.get(slot, (None,))[0] is future:
                self._waiting[slot] = (None, 0)
                self._write(frame(_SLOT.pack(CANCEL, slot)))
            raise
        return ranked, stats

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self._buffer += data
        for body in split_frames(self._buffer):
            self._handle(body)

    def _handle(self, body: bytes) -> None:
        kind = body[0]
        if kind == DONE:
            _, slot, size, queue_s, inference_s, _, count = _DONE.unpack_from(body)
            future, classes = self._answered(slot)
            if future is None:
                return
            best = [_TOP.unpack_from(body, _DONE.size + i * _TOP.size) for i in range(count)]
            probabilities = np.array(self.arena.output(slot, classes))  # a copy: the slot is reused
            future.set_result((Ranked(probabilities, [(int(i), float(p)) for i, p in best]),
                               BatchStats(size, queue_s, inference_s)))
        elif kind == ERROR:
            _, slot, code = _ERROR.unpack_from(body)
            future, _ = self._answered(slot)
            if future is not None:
                error = RequestError(body[_ERROR.size:].decode())
                error.code = _CODES.get(code, grpc.StatusCode.INTERNAL)
                future.set_exception(error)
        elif kind == METRICS_REQUEST:
            _, number = _SLOT.unpack(body)
            text = self._metrics_text() if self._metrics_text is not None else ""
            self._write(frame(_SLOT.pack(METRICS_TEXT, number) + text.encode()))

    def _answered(self, slot: int) -> tuple[asyncio.Future | None, int]:
        """The slot's caller (None if it went away) and its model's classes; the slot is free again.
        The answer's probabilities must be read before the next submit takes the slot."""
        future, classes = self._waiting.pop(slot, (None, 0))
        self._free.append(slot)
        return (None, 0) if future is None or future.done() else (future, classes)

    def _write(self, data: bytes) -> None:
        """Sends `data` after the current turn of the loop, with whatever else is sent in it: one
        system call for all the requests one turn submits (a system call is dear on a busy loop)."""
        if not self._out and not self._writing:
            self._loop.call_soon(self._flush)
        self._out += data

    def _flush(self) -> None:
        try:
            sent = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.close()
            return
        del self._out[:sent]
        if self._out and not self._writing:  # the socket is full: wait until it takes more
            self._writing = True
            self._loop.add_writer(self._sock.fileno(), self._flush)
        elif not self._out and self._writing:
            self._writing = False
            self._loop.remove_writer(self._sock.fileno())

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        try:
            self._loop.remove_reader(self._sock.fileno())
            self._loop.remove_writer(self._sock.fileno())
        except (AttributeError, ValueError, OSError):
            pass
        for future, _ in self._waiting.values():
            if future is not None and not future.done():
                future.set_exception(Unavailable("the model process is gone; this server is stopping"))
        self._waiting.clear()
        self._sock.close()
