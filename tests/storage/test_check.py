"""``check``/``repair``: disk against catalog on real fMP4 files and a real SQLite catalog."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nvr.segments import file_digest
from nvr.storage.catalog import Catalog
from nvr.storage.check import check, probe, repair
from nvr.storage.layout import QUARANTINE_DIR, partial_path
from nvr.storage.lock import LOCK_FILE, StorageLocked, lock_storage, storage_in_use
from nvr.storage.walk import walk
from tests.storage.media import (
    FPS,
    RUN_KEY,
    TICKS,
    Store,
    add_recorded,
    make_store,
    segment_at,
    write_fmp4,
    write_killed_part,
)


@pytest.fixture
async def store(catalog: Catalog, tmp_path: Path) -> AsyncIterator[Store]:
    """A store on each catalog backend (the ``catalog`` fixture of conftest.py)."""
    s = await make_store(catalog, tmp_path / "storage")
    await catalog.end_run(s.run.id, s.segments[-1].end_time, "shutdown")
    yield s


def next_relpath(store: Store, offset: int = 0) -> str:
    return segment_at("cam-a", RUN_KEY, len(store.segments) + offset)[0]


async def test_clean_store(store: Store) -> None:
    report = await check(store.catalog, store.root)
    assert report.clean and report.problems == 0
    assert (report.rows, report.files) == (3, 3)
    assert report.bytes == sum(s.size_bytes for s in store.segments)
    assert report.lines()[-1] == "clean"
    deep = await check(store.catalog, store.root, deep=True)
    assert deep.clean and deep.deep


async def test_every_kind_of_finding(store: Store) -> None:
    a, b, c = store.segments
    (store.root / a.path).unlink()  # row without file
    await store.catalog.mark_segment_garbage([b.id])  # interrupted delete
    with open(store.root / c.path, "ab") as f:  # size mismatch
        f.write(b"x")
    write_fmp4(store.root / next_relpath(store), 25)  # file without row
    write_killed_part(store.root, next_relpath(store, 1))  # unfinished
    (store.root / "cam-a" / "readme.txt").write_text("hi")  # not ours: reported, not a problem
    (store.root / QUARANTINE_DIR / "x").mkdir(parents=True)
    (store.root / QUARANTINE_DIR / "x" / "old.mp4").write_bytes(b"")  # quarantine is not walked
    await store.catalog.upsert_camera("cam-b")
    open_run = await store.catalog.start_run("cam-b", RUN_KEY)
    report = await check(store.catalog, store.root)
    assert [r.path for r in report.missing_files] == [a.path]
    assert [r.path for r in report.garbage_rows] == [b.path]
    assert [(m.row.path, m.size) for m in report.size_mismatches] == [(c.path, c.size_bytes + 1)]
    assert [f.relpath for f in report.unindexed_files] == [next_relpath(store)]
    assert [f.relpath for f in report.partial_files] == [next_relpath(store, 1) + ".part"]
    assert report.unknown_files == ["cam-a/readme.txt"]
    assert [r.id for r in report.open_runs] == [open_run.id]
    assert report.problems == 6 and not report.clean
    text = "\n".join(report.lines())
    for tag in ("MISSING", "PENDING-DELETE", "SIZE", "UNINDEXED", "PARTIAL", "UNKNOWN", "OPEN-RUN"):
        assert tag in text
    assert "6 problem(s)" in report.lines()[-1]


async def test_deep_finds_hash_mismatch_and_unplayable(store: Store) -> None:
    a, b, _ = store.segments
    path = store.root / a.path
    data = bytearray(path.read_bytes())
    data[-500] ^= 0xFF  # same size, one bit-rotted byte
    path.write_bytes(bytes(data))
    junk = store.root / b.path
    junk.write_bytes(os.urandom(b.size_bytes))
    size, sha = file_digest(junk)
    await store.catalog.update_segment_file(b.id, size_bytes=size, sha256=sha)  # the row matches the junk
    shallow = await check(store.catalog, store.root)
    assert shallow.clean  # names and sizes agree
    deep = await check(store.catalog, store.root, deep=True)
    assert [m.row.path for m in deep.hash_mismatches] == [a.path]
    assert deep.hash_mismatches[0].sha256 == file_digest(path)[1]
    assert [u.row.path for u in deep.unplayable] == [b.path]
    assert "HASH" in "\n".join(deep.lines()) and "UNPLAYABLE" in "\n".join(deep.lines())


async def test_repair_applies_recovery_fixes(store: Store) -> None:
    a, b, c = store.segments
    (store.root / a.path).unlink()
    await store.catalog.mark_segment_garbage([b.id])
    write_killed_part(store.root, next_relpath(store), frames=75, keep_fragments=2)
    partial_path(store.root / next_relpath(store, 5)).write_bytes(os.urandom(4000))
    await store.catalog.upsert_camera("cam-b")
    await store.catalog.start_run("cam-b", RUN_KEY)
    report = await check(store.catalog, store.root)
    fixed = await repair(store.catalog, report)
    assert fixed.rows_removed == [a.path] and fixed.deletes_finished == [b.path]
    assert fixed.indexed == [next_relpath(store)] and len(fixed.quarantined) == 1
    assert len(fixed.runs_ended) == 1 and not fixed.errors
    assert any(line.startswith("INDEXED") for line in fixed.lines())
    seg = await store.catalog.segment_by_path(next_relpath(store))
    assert seg is not None and seg.frames == 2 * FPS and seg.media_duration == 2 * FPS * TICKS
    assert seg.start_time == c.end_time
    assert (await check(store.catalog, store.root, deep=True)).clean


async def test_repair_fixes_hash_mismatch_when_it_still_plays(store: Store) -> None:
    a = store.segments[0]
    path = store.root / a.path
    data = bytearray(path.read_bytes())
    data[-500] ^= 0xFF
    path.write_bytes(bytes(data))
    report = await check(store.catalog, store.root, deep=True)
    fixed = await repair(store.catalog, report)
    assert fixed.rows_fixed == [a.path]
    assert (await check(store.catalog, store.root, deep=True)).clean


async def test_repair_quarantines_unplayable(store: Store) -> None:
    b = store.segments[1]
    junk = store.root / b.path
    junk.write_bytes(os.urandom(b.size_bytes))
    size, sha = file_digest(junk)
    await store.catalog.update_segment_file(b.id, size_bytes=size, sha256=sha)
    report = await check(store.catalog, store.root, deep=True)
    fixed = await repair(store.catalog, report)
    assert [p for p, _ in fixed.quarantined] == [b.path]
    assert await store.catalog.get_segment(b.id) is None
    assert (store.root / QUARANTINE_DIR / b.path).exists()
    assert (await check(store.catalog, store.root, deep=True)).clean


async def test_live_store_does_not_count_work_in_progress(store: Store) -> None:
    """While nvr records, the open .part, a file waiting in the index queue and a delete under way are normal."""
    write_killed_part(store.root, next_relpath(store))
    write_fmp4(store.root / next_relpath(store, 1), 25)
    await store.catalog.mark_segment_garbage([store.segments[0].id])
    live = await check(store.catalog, store.root, live=True)
    assert live.clean and len(live.in_flight) == 3
    assert "nvr is running" in "\n".join(live.lines())
    old = time.time() - 3600
    os.utime(store.root / next_relpath(store, 1), (old, old))
    stale = await check(store.catalog, store.root, live=True)
    assert [f.relpath for f in stale.unindexed_files] == [next_relpath(store, 1)]
    with pytest.raises(RuntimeError, match="stop nvr"):
        await repair(store.catalog, live)


async def test_live_check_confirms_missing_rows(store: Store) -> None:
    """A row whose delete began after the walk passed it is not reported missing."""
    a = store.segments[0]
    (store.root / a.path).unlink()
    report = await check(store.catalog, store.root, live=True)
    assert [r.id for r in report.missing_files] == [a.id]


async def test_tricky_camera_names_sort_like_the_catalog(store: Store) -> None:
    """'cam' vs 'cam-2' vs 'cam_3' vs 'cam0': the walk must come out in the catalog's byte order."""
    for name in ("cam", "cam-2", "cam_3", "cam0", "cam-a-b"):
        await store.catalog.upsert_camera(name)
        run = await store.catalog.start_run(name, RUN_KEY)
        for seq in range(2):
            await add_recorded(store.catalog, store.root, name, run.id, seq)
        await store.catalog.end_run(run.id, RUN_KEY + 4_000_000, "shutdown")
    paths = [e.relpath for e in walk(store.root)]
    assert paths == sorted(paths) and len(paths) == 13
    assert (await check(store.catalog, store.root)).clean


def test_probe(tmp_path: Path) -> None:
    info = probe(write_fmp4(tmp_path / "a.mp4", 60))
    assert (info.frames, info.keyframes, info.media_duration) == (60, 3, 60 * TICKS)
    assert (info.codec, info.width, info.height) == ("h264", 640, 360)
    (tmp_path / "b.mp4").write_bytes(b"nonsense" * 100)
    from nvr.storage.check import UnplayableError

    with pytest.raises(UnplayableError):
        probe(tmp_path / "b.mp4")
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "missing.mp4")


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    assert not storage_in_use(tmp_path)
    with lock_storage(tmp_path, "test"):
        assert (tmp_path / LOCK_FILE).read_text().split()[0] == str(os.getpid())
        assert storage_in_use(tmp_path)
        with pytest.raises(StorageLocked, match="in use by another process"):
            with lock_storage(tmp_path):
                pass
    assert not storage_in_use(tmp_path)
    assert [e.relpath for e in walk(tmp_path)] == []  # the lock file is hidden from the walk
