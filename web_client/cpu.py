"""Seconds of CPU (a session report's images, a huge photo's masks, a study summary) kept off the
event loop. Under gunicorn's gevent workers every page of a process shares one thread, so work
like that would stall all of them: it runs on a small pool of real threads instead (PIL, zlib and
numpy let go of the GIL), which also bounds how much of it runs at once. Elsewhere (threaded
workers, the tests' app) it runs where it is called."""

from __future__ import annotations

import os

DEFAULT_THREADS = min(4, os.cpu_count() or 1)
_pool = None


def start(threads: int = DEFAULT_THREADS) -> None:
    """Called once in a gevent worker, after gevent has patched the process."""
    global _pool
    from gevent.threadpool import ThreadPool
    _pool = ThreadPool(threads)


def run(fn, *args, **kwargs):
    """fn(*args, **kwargs), on the pool when there is one (the caller's greenlet waits, the others go on)."""
    if _pool is None:
        return fn(*args, **kwargs)
    return _pool.apply(fn, args, kwargs)
