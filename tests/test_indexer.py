"""The segment indexer: ordered, never blocking, retrying through a locked catalog, bounded."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from nvr.indexer import SegmentIndexer
from nvr.recorder_events import ClosedSegment
from nvr.storage.layout import segment_relpath

T0 = 1_763_800_000_000_000  # a run's start, UTC µs
SEG_US = 10_000_000


def write_segment(root: Path, camera: str, run_key: int, seq: int, size: int = 4096) -> ClosedSegment:
    start = run_key + seq * SEG_US
    rel = segment_relpath(camera, datetime.fromtimestamp(start / 1e6, timezone.utc), run_key, seq)
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(bytes([seq % 256]) * size)
    return ClosedSegment(camera=camera, run_key=run_key, seq=seq, relpath=rel, start_time=start,
                         end_time=start + SEG_US, media_duration=10 * 90_000, frames=250, keyframes=10,
                         codec="h264", width=1280, height=720, size_bytes=size)


CONFIG = '[[cameras]]\nname = "gate"\nrecord = { enabled = false }\nstream = { main = "rtsp://127.0.0.1:9/x" }\n'


async def test_events_are_applied_in_order(write_config, start_server) -> None:
    async with start_server(write_config(CONFIG)) as server:
        runtime, root = server.runtime, server.runtime.config.storage.root
        indexer = SegmentIndexer(runtime, max_queue=100)
        indexer.start()
        try:
            indexer.run_started("gate", T0, T0)
            for seq in range(3):
                indexer.segment_closed(write_segment(root, "gate", T0, seq))
            indexer.run_ended("gate", T0, T0 + 3 * SEG_US, "camera dropped")
            await asyncio.wait_for(indexer.drained(), 10)
        finally:
            await indexer.stop()
        segments = await runtime.catalog.segments("gate", 0, T0 + 10 * SEG_US)
        assert [s.seq for s in segments] == [0, 1, 2]
        assert all(s.size_bytes == 4096 and len(s.sha256) == 64 for s in segments)
        run = await runtime.catalog.get_run(segments[0].run_id)
        assert run.started_at == T0 and run.ended_at == T0 + 3 * SEG_US and run.reason_ended == "camera dropped"
        assert indexer.stats.indexed == 3 and indexer.stats.failed == 0


async def test_locked_catalog_delays_but_loses_nothing(write_config, start_server) -> None:
    async with start_server(write_config(CONFIG)) as server:
        runtime, root = server.runtime, server.runtime.config.storage.root
        db = runtime.config.catalog_url
        indexer = SegmentIndexer(runtime, max_queue=100)
        indexer.start()
        locked, release = threading.Event(), threading.Event()

        def hold_lock() -> None:
            conn = sqlite3.connect(db, timeout=0)
            conn.execute("BEGIN EXCLUSIVE")
            locked.set()
            release.wait(15)
            conn.rollback()
            conn.close()

        holder = threading.Thread(target=hold_lock)
        holder.start()
        try:
            await asyncio.to_thread(locked.wait, 5)
            started = time.monotonic()
            indexer.run_started("gate", T0, T0)
            for seq in range(5):
                indexer.segment_closed(write_segment(root, "gate", T0, seq))
            assert time.monotonic() - started < 0.05  # handing over never waits
            await asyncio.sleep(6.5)  # longer than the catalog's 5 s busy timeout
            assert indexer.depth > 0 and indexer.stats.retries > 0
            release.set()
            await asyncio.wait_for(indexer.drained(), 20)
        finally:
            release.set()
            holder.join()
            await indexer.stop()
        segments = await runtime.catalog.segments("gate", 0, T0 + 10 * SEG_US)
        assert [s.seq for s in segments] == [0, 1, 2, 3, 4]


async def test_overflow_is_counted_and_bad_events_are_skipped(write_config, start_server) -> None:
    async with start_server(write_config(CONFIG)) as server:
        runtime, root = server.runtime, server.runtime.config.storage.root
        indexer = SegmentIndexer(runtime, max_queue=3)
        for seq in range(5):  # not started: nothing drains
            indexer.segment_closed(write_segment(root, "gate", T0, seq))
        assert indexer.depth == 3 and indexer.stats.overflowed == 2
        indexer.start()
        await asyncio.wait_for(indexer.drained(), 10)
        await indexer.stop()
        assert indexer.stats.failed == 3  # segments of a run the indexer never saw: left to recovery
        assert await runtime.catalog.segments("gate", 0, T0 + 10 * SEG_US) == []
        assert all((root / write_segment(root, "gate", T0, s).relpath).exists() for s in range(3))
