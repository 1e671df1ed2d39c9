"""The recorders' shared ingest thread (one asyncio loop for every camera) and file-I/O thread pool.

Every ``Recorder`` of a process runs its connection as a task on one event
loop in one dedicated thread, started on first use: packets never wait for
the application's loop (web, catalog, analysis, plugins). Blocking file work
(opening, writing fragments, fsync, rename) runs on a small shared thread pool
in per-segment order (``SerialJobs``), so a slow disk or one slow fsync stalls
neither the ingest loop nor the other cameras.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

log = logging.getLogger(__name__)

FILE_WORKERS = 4
"""Threads doing segment file I/O for all cameras of a process."""

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_pool: ThreadPoolExecutor | None = None


def ingest_loop() -> asyncio.AbstractEventLoop:
    """The shared ingest event loop, started in its own daemon thread on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            _thread = threading.Thread(target=run, name="nvr-ingest", daemon=True)
            _loop = loop
            _thread.start()
            ready.wait()
        return _loop


def in_ingest_thread() -> bool:
    """Whether the caller runs on the ingest thread."""
    return _thread is not None and threading.current_thread() is _thread


def submit(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Run ``coro`` as a task on the ingest loop; the returned future may be awaited from any thread."""
    return asyncio.run_coroutine_threadsafe(coro, ingest_loop())


def file_pool() -> ThreadPoolExecutor:
    """The shared thread pool for segment file I/O."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=FILE_WORKERS, thread_name_prefix="nvr-files")
        return _pool


def _shutdown() -> None:
    pool = _pool
    if pool is not None:
        pool.shutdown(wait=True)  # let finished segments reach their final names


atexit.register(_shutdown)


class SerialJobs:
    """Runs submitted calls one after another, in order, on a shared pool (one instance per file).

    ``error`` is the first exception any call raised (later calls still run;
    each decides whether it can). Futures complete on the pool's threads.
    """

    __slots__ = ("_pool", "_lock", "_queue", "_running", "error")

    def __init__(self, pool: ThreadPoolExecutor | None = None) -> None:
        self._pool = pool or file_pool()
        self._lock = threading.Lock()
        self._queue: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()
        self._running = False
        self.error: BaseException | None = None

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``fn(*args)`` after everything submitted before it."""
        future: Future[T] = Future()
        with self._lock:
            self._queue.append((future, fn, args))
            if self._running:
                return future
            self._running = True
        try:
            self._pool.submit(self._drain)
        except RuntimeError:  # the pool is shut down (interpreter exit): run here
            self._drain()
        return future

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._running = False
                    return
                future, fn, args = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to whoever waits; remembered for the recorder
                if self.error is None:
                    self.error = exc
                future.set_exception(exc)
