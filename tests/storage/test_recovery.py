"""Startup recovery on real fMP4 files and a real SQLite catalog: one test per crash leftover."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nvr.clock import ManualClock
from nvr.models import MEDIA_TIMEBASE
from nvr.segments import file_digest
from nvr.storage.catalog import Catalog, open_catalog
from nvr.storage.check import check
from nvr.storage.layout import QUARANTINE_DIR, partial_path
from nvr.storage.recovery import RECOVERY_REASON, apply_fixes, recover
from tests.storage.media import (
    FPS,
    RUN_KEY,
    TICKS,
    Store,
    add_recorded,
    make_store,
    plays,
    segment_at,
    write_fmp4,
    write_killed_part,
)


@pytest.fixture
async def store(catalog: Catalog, tmp_path: Path) -> AsyncIterator[Store]:
    """A store on each catalog backend (the ``catalog`` fixture of conftest.py)."""
    yield await make_store(catalog, tmp_path / "storage")


async def run_recovery(store: Store):
    return await recover(store.catalog, store.root, ManualClock())


async def assert_consistent(store: Store) -> None:
    """Every ok row names a file of its size and hash that plays; the next recovery changes nothing."""
    again = await run_recovery(store)
    assert not again.changed, again.lines()
    assert again.scan is not None and again.scan.clean, again.scan.lines()
    after = 0
    while page := await store.catalog.iter_segments(after, 100):
        for seg in page:
            assert seg.state == "ok"
            assert file_digest(store.root / seg.path) == (seg.size_bytes, seg.sha256)
            assert plays(store.root / seg.path) == seg.frames
        after = page[-1].id


async def test_intact_store_changes_nothing(store: Store) -> None:
    report = await run_recovery(store)
    assert report.runs_ended == [store.run.id]  # the only open run: nvr did not stop cleanly
    report.runs_ended.clear()
    assert not report.changed and not report.errors
    assert report.scan is not None and report.scan.rows == 3 and report.scan.files == 3
    await assert_consistent(store)


async def test_open_run_ends_at_its_last_segment(store: Store) -> None:
    await run_recovery(store)
    run = await store.catalog.get_run(store.run.id)
    assert run is not None and run.ended_at == store.segments[-1].end_time and run.reason_ended == RECOVERY_REASON


async def test_open_run_without_segments_ends_at_its_start(store: Store) -> None:
    await store.catalog.upsert_camera("cam-b")
    empty = await store.catalog.start_run("cam-b", RUN_KEY + 5)
    await run_recovery(store)
    run = await store.catalog.get_run(empty.id)
    assert run is not None and run.ended_at == RUN_KEY + 5


async def test_interrupted_deletes_are_finished(store: Store) -> None:
    a, b, _ = store.segments
    await store.catalog.mark_segment_garbage([a.id, b.id])
    (store.root / b.path).unlink()  # b's delete got as far as the unlink
    report = await run_recovery(store)
    assert sorted(report.deletes_finished) == sorted([a.path, b.path])
    assert not (store.root / a.path).exists()
    assert await store.catalog.get_segment(a.id) is None and await store.catalog.get_segment(b.id) is None
    await assert_consistent(store)


async def test_part_is_cut_renamed_and_indexed_into_its_run(store: Store) -> None:
    relpath, start, _ = segment_at("cam-a", RUN_KEY, 3)
    assert start == store.segments[-1].end_time
    part = write_killed_part(store.root, relpath, frames=75, keep_fragments=2)
    size_before = part.stat().st_size
    report = await run_recovery(store)
    assert report.indexed == [relpath]
    assert report.truncated and report.truncated[0][0] == relpath and report.truncated[0][1] > 0
    assert not part.exists() and (store.root / relpath).stat().st_size < size_before
    seg = await store.catalog.segment_by_path(relpath)
    assert seg is not None and seg.run_id == store.run.id and seg.seq == 3
    assert (seg.frames, seg.keyframes, seg.media_duration) == (2 * FPS, 2, 2 * FPS * TICKS)
    assert (seg.start_time, seg.end_time) == (start, start + 2_000_000)
    assert (seg.codec, seg.width, seg.height) == ("h264", 640, 360)
    run = await store.catalog.get_run(store.run.id)
    assert run is not None and run.ended_at == seg.end_time and run.reason_ended == RECOVERY_REASON
    await assert_consistent(store)


async def test_part_with_no_complete_fragment_is_removed(store: Store) -> None:
    relpath = _next_relpath(store)
    part = write_killed_part(store.root, relpath, frames=25, keep_fragments=0)
    empty = partial_path(store.root / _next_relpath(store, 1))
    empty.write_bytes(b"")
    report = await run_recovery(store)
    assert sorted(report.removed_empty) == sorted([part.relative_to(store.root).as_posix(),
                                                   empty.relative_to(store.root).as_posix()])
    assert not part.exists() and not empty.exists() and not report.indexed
    await assert_consistent(store)


async def test_unreadable_part_is_quarantined_never_deleted(store: Store) -> None:
    relpath = _next_relpath(store)
    part = partial_path(store.root / relpath)
    junk = os.urandom(100_000)
    part.write_bytes(junk)
    report = await run_recovery(store)
    rel_part = relpath + ".part"
    assert [p for p, _ in report.quarantined] == [rel_part]
    assert (store.root / QUARANTINE_DIR / rel_part).read_bytes() == junk
    assert not part.exists()
    await assert_consistent(store)  # .quarantine is not walked


async def test_part_of_an_unknown_run_gets_a_run(store: Store) -> None:
    key = RUN_KEY + 3_600_000_000
    relpath, _, _ = segment_at("cam-a", key, 0)
    write_killed_part(store.root, relpath, frames=75, keep_fragments=1)
    report = await run_recovery(store)
    assert report.indexed == [relpath] and len(report.runs_created) == 1
    run = await store.catalog.get_run(report.runs_created[0])
    seg = await store.catalog.segment_by_path(relpath)
    assert run is not None and seg is not None and seg.run_id == run.id
    assert (run.started_at, run.ended_at, run.reason_ended) == (key, seg.end_time, RECOVERY_REASON)
    assert seg.frames == FPS
    await assert_consistent(store)


async def test_part_of_an_unknown_camera(store: Store) -> None:
    relpath = _next_relpath(store, camera="cam-new")
    write_killed_part(store.root, relpath, frames=75, keep_fragments=2)
    report = await run_recovery(store)
    assert report.indexed == [relpath]
    assert await store.catalog.get_camera("cam-new") is not None
    await assert_consistent(store)


async def test_unindexed_mp4_in_the_middle_of_a_run(store: Store) -> None:
    """The indexer dropped segment 1 (queue overflow) and numbered segment 2 as seq 1: recovery fits it back."""
    await store.catalog.mark_segment_garbage([store.segments[1].id])
    await store.catalog.delete_segments([store.segments[1].id])
    middle = store.segments[1]
    report = await run_recovery(store)
    assert report.indexed == [middle.path] and not report.truncated
    seg = await store.catalog.segment_by_path(middle.path)
    assert seg is not None and (seg.start_time, seg.end_time, seg.seq) == (middle.start_time, middle.end_time, 1)
    assert seg.sha256 == middle.sha256
    last = await store.catalog.get_segment(store.segments[2].id)
    assert last is not None and last.seq == 2
    await assert_consistent(store)


async def test_unplayable_unindexed_mp4_is_quarantined(store: Store) -> None:
    relpath = _next_relpath(store)
    (store.root / relpath).write_bytes(b"\0" * 5000)
    report = await run_recovery(store)
    assert [p for p, _ in report.quarantined] == [relpath]
    assert (store.root / QUARANTINE_DIR / relpath).exists()
    await assert_consistent(store)


async def test_part_next_to_a_finished_file_of_the_same_name_is_quarantined(store: Store) -> None:
    seg = store.segments[-1]
    part = partial_path(store.root / seg.path)
    write_fmp4(part, 25)
    report = await run_recovery(store)
    assert [p for p, _ in report.quarantined] == [seg.path + ".part"]
    assert await store.catalog.get_segment(seg.id) == seg
    await assert_consistent(store)


async def test_row_without_file_is_removed_and_logged(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    gone = store.segments[1]
    (store.root / gone.path).unlink()
    with caplog.at_level(logging.ERROR, logger="nvr.storage.recovery"):
        report = await run_recovery(store)
    assert report.rows_removed == [gone.path]
    assert await store.catalog.get_segment(gone.id) is None
    assert any(gone.path in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    gaps = await store.catalog.gaps("cam-a", store.segments[0].start_time, store.segments[2].end_time)
    assert gaps == [(gone.start_time, gone.end_time)]
    await assert_consistent(store)


async def test_smaller_file_is_cut_and_its_row_fixed(store: Store) -> None:
    """A power cut truncated a closed file (its data never reached the disk): keep what plays."""
    seg = store.segments[2]
    path = store.root / seg.path
    write_fmp4(path, 75)
    size, sha = file_digest(path)
    await store.catalog.update_segment_file(seg.id, size_bytes=size, sha256=sha, frames=75, keyframes=3,
                                            media_duration=75 * TICKS)
    os.truncate(path, size - 20_000)
    report = await run_recovery(store)
    assert report.rows_fixed == [seg.path]
    fixed = await store.catalog.get_segment(seg.id)
    assert fixed is not None and fixed.frames == 50 and fixed.media_duration == 50 * TICKS
    assert fixed.end_time == seg.start_time + 2_000_000 and fixed.size_bytes == path.stat().st_size
    await assert_consistent(store)


async def test_larger_file_gets_its_row_fixed(store: Store) -> None:
    seg = store.segments[0]
    with open(store.root / seg.path, "ab") as f:
        f.write(b"\0" * 1000)  # a tail of zeros, as a filesystem may leave after a crash
    report = await run_recovery(store)
    assert report.rows_fixed == [seg.path]
    fixed = await store.catalog.get_segment(seg.id)
    assert fixed is not None and fixed.sha256 == seg.sha256 and fixed.size_bytes == seg.size_bytes
    await assert_consistent(store)


async def test_unplayable_size_mismatch_is_quarantined_and_row_removed(store: Store) -> None:
    seg = store.segments[0]
    (store.root / seg.path).write_bytes(os.urandom(3000))
    report = await run_recovery(store)
    assert [p for p, _ in report.quarantined] == [seg.path]
    assert report.rows_removed == [] and await store.catalog.get_segment(seg.id) is None
    assert (store.root / QUARANTINE_DIR / seg.path).stat().st_size == 3000
    await assert_consistent(store)


async def test_quarantine_never_overwrites(store: Store) -> None:
    for _ in range(2):
        part = partial_path(store.root / _next_relpath(store))
        part.write_bytes(os.urandom(2000))
        await run_recovery(store)
    names = sorted(p.name for p in (store.root / QUARANTINE_DIR).rglob("*") if p.is_file())
    assert len(names) == 2 and names[1] == names[0] + ".1"


async def test_everything_at_once_then_idempotent(store: Store) -> None:
    await store.catalog.mark_segment_garbage([store.segments[0].id])
    (store.root / store.segments[1].path).unlink()
    write_killed_part(store.root, _next_relpath(store), frames=75, keep_fragments=1)
    partial_path(store.root / _next_relpath(store, 10)).write_bytes(os.urandom(999))
    (store.root / "cam-a" / "notes.txt").write_text("not footage")
    report = await run_recovery(store)
    assert len(report.deletes_finished) == 1 and len(report.rows_removed) == 1
    assert len(report.indexed) == 1 and len(report.quarantined) == 1 and not report.errors
    assert report.scan is not None and report.scan.unknown_files == ["cam-a/notes.txt"]
    assert (store.root / "cam-a" / "notes.txt").exists()
    await assert_consistent(store)


@pytest.mark.slow
@pytest.mark.serial
async def test_intact_large_store_is_fast(tmp_path: Path) -> None:
    """20 000 catalogued files: recovery compares names and sizes only (no hashing) and takes well under 5 s."""
    root = tmp_path / "storage"
    async with await open_catalog(f"sqlite://{tmp_path / 'catalog.db'}") as catalog:
        await catalog.upsert_camera("cam-a")
        run = await catalog.start_run("cam-a", RUN_KEY)
        rows = []
        for i in range(20_000):
            relpath, start, end = segment_at("cam-a", RUN_KEY, i, seconds=60)
            path = root / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * (i % 97))
            rows.append((run.camera_id, run.id, i, start, end, 60 * MEDIA_TIMEBASE, relpath, i % 97, "0" * 64,
                         1500, 60, "h264", 0))

        def bulk(conn):  # noqa: ANN001 - sqlite3.Connection
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO segments (camera_id, run_id, seq, start_time, end_time, media_duration,"
                             " path, size_bytes, sha256, frames, keyframes, codec, created_at)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")

        await catalog.run_in_worker(bulk)  # type: ignore[attr-defined]
        started = time.monotonic()
        report = await recover(catalog, root, ManualClock())
        elapsed = time.monotonic() - started
        assert report.scan is not None and report.scan.rows == 20_000 and report.scan.files == 20_000
        assert report.scan.clean and not report.indexed and not report.rows_fixed  # nothing hashed
        assert elapsed < 2.5, elapsed


def _next_relpath(store: Store, offset: int = 0, camera: str = "cam-a") -> str:
    """The name of the segment after the store's last one (plus ``offset`` more)."""
    relpath, _, _ = segment_at(camera, RUN_KEY, len(store.segments) + offset)
    return relpath



async def test_unmounted_storage_keeps_the_rows(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """Most files missing at once looks like a disk that did not mount: recovery must not empty the catalog."""
    for seq in range(3, 30):
        await add_recorded(store.catalog, store.root, "cam-a", store.run.id, seq)
    shutil.rmtree(store.root / "cam-a")
    with caplog.at_level(logging.CRITICAL, logger="nvr.storage.recovery"):
        report = await run_recovery(store)
    assert not report.rows_removed and report.errors and "mounted" in caplog.text
    assert len(await store.catalog.iter_segments(0, 100)) == 30
    fixed = await apply_fixes(store.catalog, await check(store.catalog, store.root), force=True)
    assert len(fixed.rows_removed) == 30
    assert await store.catalog.iter_segments(0, 100) == []


async def test_symlinked_camera_folder_is_followed(store: Store, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other-disk" / "cam-a"
    elsewhere.parent.mkdir()
    shutil.move(store.root / "cam-a", elsewhere)
    (store.root / "cam-a").symlink_to(elsewhere, target_is_directory=True)
    report = await run_recovery(store)
    assert report.scan is not None and report.scan.files == 3 and not report.rows_removed
    await assert_consistent(store)


async def test_unreadable_folder_hides_no_rows(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder that cannot be listed (EIO, permissions) makes its rows unverifiable, not missing."""
    import nvr.storage.walk as walk_module

    real = walk_module._sorted_entries
    hour = (store.root / store.segments[0].path).parent

    def failing(folder):  # noqa: ANN001, ANN202
        if Path(folder) == hour:
            raise OSError(5, "Input/output error")
        return real(folder)

    monkeypatch.setattr(walk_module, "_sorted_entries", failing)
    report = await run_recovery(store)
    assert report.scan is not None and not report.rows_removed
    assert report.scan.unreadable == [store.segments[0].path.rsplit("/", 1)[0] + "/"]
    assert not report.scan.clean and "UNREADABLE" in "\n".join(report.scan.lines())
    assert len(await store.catalog.iter_segments(0, 100)) == 3
