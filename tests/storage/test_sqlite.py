"""SQLite backend specifics: pragmas, the worker thread, event-loop responsiveness."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nvr.errors import CatalogError
from nvr.storage.catalog import open_catalog
from nvr.storage.sqlite import BUSY_TIMEOUT_MS, SqliteCatalog

T0 = 1_700_000_000_000_000


@pytest.fixture
async def cat(tmp_path: Path) -> AsyncIterator[SqliteCatalog]:
    c = await open_catalog(f"sqlite://{tmp_path / 'catalog.db'}")
    assert isinstance(c, SqliteCatalog)
    yield c
    await c.close()


async def test_pragmas(cat: SqliteCatalog, tmp_path: Path) -> None:
    def pragmas(c: sqlite3.Connection) -> tuple[object, ...]:
        return tuple(c.execute(f"PRAGMA {p}").fetchone()[0]
                     for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"))

    assert await cat.run_in_worker(pragmas) == ("wal", 2, 1, BUSY_TIMEOUT_MS)  # synchronous 2 = FULL
    await cat.set_meta("k", "v")
    assert (tmp_path / "catalog.db-wal").exists()


async def test_memory_catalog_works_without_wal() -> None:
    async with await open_catalog("sqlite://:memory:") as cat:
        assert isinstance(cat, SqliteCatalog)
        assert await cat.run_in_worker(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "memory"
        await cat.upsert_camera("x")


async def test_all_sql_runs_on_the_worker_thread(cat: SqliteCatalog) -> None:
    seen: set[int] = set()
    await cat.run_in_worker(lambda c: c.set_trace_callback(lambda _sql: seen.add(threading.get_ident())))
    await cat.upsert_camera("cam")
    run = await cat.start_run("cam", T0)
    await cat.add_segment(run_id=run.id, start_time=T0, end_time=T0 + 1_000_000, media_duration=90_000,
                          path="cam/1.mp4", size_bytes=1, sha256="a" * 64, frames=1, keyframes=1, codec="h264")
    await cat.segments("cam", 0, T0 * 2)
    await cat.create_user("u", "h", "viewer")
    await cat.get_meta("x")
    assert seen, "trace callback saw no SQL"
    assert seen == {cat.worker_thread_ident}
    assert threading.get_ident() not in seen


async def test_event_loop_stays_responsive_during_long_query(cat: SqliteCatalog) -> None:
    def slow_query(c: sqlite3.Connection) -> int:
        c.create_function("sleep_ms", 1, lambda ms: time.sleep(ms / 1000) or ms)
        return c.execute("SELECT sleep_ms(400)").fetchone()[0]

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        assert await cat.run_in_worker(slow_query) == 400
    finally:
        task.cancel()
    assert time.monotonic() - started >= 0.35
    assert ticks >= 10, f"event loop ticked only {ticks} times during a 400 ms query"


async def test_calls_are_serialised_on_one_thread(cat: SqliteCatalog) -> None:
    idents = await asyncio.gather(*(cat.run_in_worker(lambda c: threading.get_ident()) for _ in range(20)))
    assert set(idents) == {cat.worker_thread_ident}
    assert cat.worker_thread_ident != threading.get_ident()


async def test_sqlite_errors_become_catalog_errors(cat: SqliteCatalog) -> None:
    with pytest.raises(CatalogError, match="syntax error"):
        await cat.run_in_worker(lambda c: c.execute("SELEC 1"))
    with pytest.raises(CatalogError, match="FOREIGN KEY"):
        await cat.run_in_worker(lambda c: c.execute("INSERT INTO runs (camera_id, started_at) VALUES (77, 0)"))


async def test_second_connection_reads_while_first_writes(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'catalog.db'}"
    async with await open_catalog(url) as a, await open_catalog(url) as b:
        await a.upsert_camera("cam")
        assert (await b.get_camera("cam")) is not None
        await b.set_meta("from", "b")
        assert await a.get_meta("from") == "b"


async def test_close_stops_the_worker_thread(tmp_path: Path) -> None:
    cat = await open_catalog(f"sqlite://{tmp_path / 'c.db'}")
    assert isinstance(cat, SqliteCatalog)
    ident = cat.worker_thread_ident
    await cat.close()
    for _ in range(100):
        if all(t.ident != ident for t in threading.enumerate()):
            break
        await asyncio.sleep(0.01)
    assert all(t.ident != ident for t in threading.enumerate())


async def test_failed_open_raises_catalog_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    before = threading.active_count()
    with pytest.raises(CatalogError):
        await open_catalog(str(tmp_path / "dir.db"))
    for _ in range(100):
        if threading.active_count() <= before:
            break
        await asyncio.sleep(0.01)
    assert threading.active_count() <= before


async def test_concurrent_close_and_queued_calls(tmp_path: Path) -> None:
    cat = await open_catalog(f"sqlite://{tmp_path / 'c.db'}")
    queued = asyncio.ensure_future(cat.set_meta("k", "v"))
    await asyncio.sleep(0)  # let the call reach the worker queue
    await asyncio.gather(cat.close(), cat.close())
    await queued  # a call queued before close() still completes
    async with await open_catalog(f"sqlite://{tmp_path / 'c.db'}") as again:
        assert await again.get_meta("k") == "v"
