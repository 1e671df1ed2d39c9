"""Run an iterator on its own thread, a bounded queue ahead of its consumer (reading overlaps writing)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TypeVar

__all__ = ["ahead", "ahead_async"]

T = TypeVar("T")
_ITEM, _DONE, _ERROR = 0, 1, 2


def ahead(items: Iterable[T], depth: int = 64, name: str = "nvr-export-read") -> Iterator[T]:
    """Yield ``items`` while a thread produces the next ones; its exceptions are raised here.

    When the consumer stops early (an exception, ``close()``), the producer
    is told to stop and joined before this generator returns.
    """
    q: queue.Queue[tuple[int, object]] = queue.Queue(depth)
    stop = threading.Event()

    def put(kind: int, value: object) -> bool:
        while not stop.is_set():
            try:
                q.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(_ITEM, item):
                    return
            put(_DONE, None)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_ERROR, exc)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == _DONE:
                return
            if kind == _ERROR:
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


async def ahead_async(items: Iterable[T], depth: int = 16, name: str = "nvr-export-stream") -> AsyncIterator[T]:
    """Like ``ahead`` for a coroutine: a thread produces ``items``, the event loop consumes them.

    Leaving early (the client went away) tells the thread to stop; it closes
    the iterator on its own thread within a fragment's read, without blocking
    the loop.
    """
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[tuple[int, object]] = asyncio.Queue()
    slots = threading.Semaphore(depth)
    stop = threading.Event()

    def hand_over(kind: int, value: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening any more
            loop.call_soon_threadsafe(q.put_nowait, (kind, value))

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                while not slots.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                hand_over(_ITEM, item)
            hand_over(_DONE, None)
        except BaseException as exc:  # handed to the consumer, which raises it
            hand_over(_ERROR, exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    threading.Thread(target=produce, name=name, daemon=True).start()
    try:
        while True:
            kind, value = await q.get()
            if kind == _DONE:
                return
            if kind == _ERROR:
                raise value  # type: ignore[misc]
            slots.release()
            yield value  # type: ignore[misc]
    finally:
        stop.set()
