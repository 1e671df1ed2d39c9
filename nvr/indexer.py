"""Between the recorders and the catalog: a bounded queue of closed segments and run changes.

Recorders hand events over on the event loop without waiting (``put`` never
blocks). One task applies them in order: runs are opened and closed in the
catalog, each segment is hashed off the loop and entered, and plugins hear
about it. When the catalog is slow or locked the queue grows (bounded by
``[recording] index_queue``) and every step is retried with backoff; the files
are already on disk, so even an overflow loses nothing: the dropped entries
are counted and the next start's recovery (or ``nvr check-storage --repair``)
indexes their files.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nvr.errors import CatalogError, CatalogUnavailable
from nvr.segments import publish_segment

if TYPE_CHECKING:
    from nvr.recorder_events import ClosedSegment
    from nvr.runtime import Runtime

log = logging.getLogger(__name__)

RETRY_START_S = 0.2
RETRY_CAP_S = 5.0


@dataclass
class IndexerStats:
    """Counters for the UI and tests."""

    queued: int = 0
    indexed: int = 0
    overflowed: int = 0
    retries: int = 0
    failed: int = 0
    max_depth: int = 0


@dataclass(frozen=True)
class _RunStarted:
    camera: str
    run_key: int
    started_at: int


@dataclass(frozen=True)
class _RunEnded:
    camera: str
    run_key: int
    ended_at: int
    reason: str


class SegmentIndexer:
    """Applies recorder events to the catalog in order, never making a recorder wait."""

    def __init__(self, runtime: Runtime, max_queue: int):
        self._runtime = runtime
        self._max = max_queue
        self._queue: collections.deque[Any] = collections.deque()
        self._wake = asyncio.Event()
        self._runs: dict[tuple[str, int], int] = {}
        self._task: asyncio.Task | None = None
        self.stats = IndexerStats()

    # -- called by recorders (on the loop; never blocks) --------------------

    def run_started(self, camera: str, run_key: int, started_at_us: int) -> None:
        self._put(_RunStarted(camera, run_key, started_at_us))

    def segment_closed(self, segment: ClosedSegment) -> None:
        self._put(segment)

    def run_ended(self, camera: str, run_key: int, ended_at_us: int, reason: str) -> None:
        self._put(_RunEnded(camera, run_key, ended_at_us, reason))

    def _put(self, item: Any) -> None:
        if len(self._queue) >= self._max:
            self.stats.overflowed += 1
            if self.stats.overflowed == 1 or self.stats.overflowed % 1000 == 0:
                log.error("index queue full (%d): %d event(s) left to recovery; their files are on disk",
                          self._max, self.stats.overflowed)
            return
        self._queue.append(item)
        self.stats.queued += 1
        self.stats.max_depth = max(self.stats.max_depth, len(self._queue))
        self._wake.set()

    @property
    def depth(self) -> int:
        return len(self._queue)

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="segment-indexer")

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Index what is queued (bounded by ``drain_timeout``), then stop."""
        if self._task is None:
            return
        try:
            async with asyncio.timeout(drain_timeout):
                while self._queue:
                    await asyncio.sleep(0.02)
        except TimeoutError:
            log.warning("indexer stopped with %d event(s) queued; recovery indexes them at next start",
                        len(self._queue))
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def drained(self) -> None:
        """Wait until the queue is empty (tests, shutdown)."""
        while self._queue:
            await asyncio.sleep(0.02)

    # -- the consumer --------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._queue[0]
            delay = RETRY_START_S
            while True:
                try:
                    await self._apply(item)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not _transient(exc):  # refused for good: leave the file to recovery
                        self.stats.failed += 1
                        log.error("indexer: %s", exc)
                        break
                    # catalog slow, locked or down: retry, keep order
                    self.stats.retries += 1
                    if self.stats.retries == 1 or self.stats.retries % 50 == 0:
                        log.warning("indexer: catalog write failed (%s); retrying", exc)
                    await asyncio.sleep(delay)
                    delay = min(RETRY_CAP_S, delay * 2)
            self._queue.popleft()

    async def _apply(self, item: Any) -> None:
        catalog = self._runtime.catalog
        if isinstance(item, _RunStarted):
            run = await catalog.start_run(item.camera, item.started_at)
            self._runs[(item.camera, item.run_key)] = run.id
        elif isinstance(item, _RunEnded):
            run_id = self._runs.pop((item.camera, item.run_key), None)
            if run_id is None:
                raise _Skip(f"run {item.run_key} of {item.camera} ended but was never started")
            await catalog.end_run(run_id, item.ended_at, item.reason)
        else:
            run_id = self._runs.get((item.camera, item.run_key))
            if run_id is None:
                raise _Skip(f"segment {item.relpath} belongs to an unknown run; recovery will index it")
            await publish_segment(
                self._runtime, item.camera, run_id=run_id, relpath=item.relpath, start_time=item.start_time,
                end_time=item.end_time, media_duration=item.media_duration, frames=item.frames,
                keyframes=item.keyframes, codec=item.codec, width=item.width, height=item.height,
            )
            self.stats.indexed += 1


class _Skip(Exception):
    """An event that can never be applied; logged and left to recovery."""


def _transient(exc: BaseException) -> bool:
    """Database trouble (locked, busy, I/O) is worth retrying; a refused write is not."""
    if isinstance(exc, _Skip):
        return False
    if isinstance(exc, CatalogError):
        return isinstance(exc, CatalogUnavailable)
    return isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError)
