"""Start-up recovery with the clean-shutdown marker: bounded now, the full walk in the background; real files."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from nvr.clock import ManualClock, utc_us
from nvr.models import Segment
from nvr.segments import file_digest
from nvr.storage import recovery_startup
from nvr.storage.catalog import Catalog, open_catalog
from nvr.storage.layout import partial_path
from nvr.storage.recovery_fast import CRASH_MARGIN_US, _list_window, window_lower, window_start
from nvr.storage.recovery_startup import LAST_FULL_CHECK_KEY, Marker, StartupRecovery
from tests.storage.media import (
    FPS,
    RUN_KEY,
    T0,
    TICKS,
    Store,
    add_recorded,
    make_store,
    segment_at,
    write_fmp4,
    write_killed_part,
)

OLD_KEY = RUN_KEY - 86_400_000_000
"""A run a day before the store's footage: far outside every start-up window."""
HOUR_AGO = time.time() - 3600


@pytest.fixture
async def store(catalog: Catalog, tmp_path: Path) -> AsyncIterator[Store]:
    """A store on each catalog backend (the ``catalog`` fixture of conftest.py)."""
    yield await make_store(catalog, tmp_path / "storage")


async def start(store: Store, root: Path | None = None) -> StartupRecovery:
    """A server start five minutes after the store's footage; the background check starts at once when asked."""
    startup = StartupRecovery(store.catalog, root or store.root, ManualClock(T0 + timedelta(minutes=5)),
                              background_delay_s=0)
    await startup.recover()
    return startup


async def clean_cycle(store: Store) -> None:
    """Start (recovering the store's open run), finish the background check, stop cleanly."""
    startup = await start(store)
    startup.start_background()
    await startup.wait_background()
    assert startup.full.state in ("done", "not needed")
    await startup.stop()


def old_file(store: Store, seq: int, *, partial: bool = False) -> str:
    """A finished segment (or a killed ``.part``) of the old run, with no row, last written an hour ago."""
    relpath, _, _ = segment_at("cam-a", OLD_KEY, seq)
    path = write_killed_part(store.root, relpath, 75, 2) if partial else write_fmp4(store.root / relpath, 50)
    os.utime(path, (HOUR_AGO, HOUR_AGO))
    return path.relative_to(store.root).as_posix()


async def old_row(catalog: Catalog, root: Path, seq: int) -> Segment:
    """A catalogued segment of the old (ended) run."""
    run = await catalog.run_by_start("cam-a", OLD_KEY) or await catalog.insert_ended_run(
        "cam-a", OLD_KEY, OLD_KEY, "shutdown")
    relpath, start, end = segment_at("cam-a", OLD_KEY, seq)
    write_fmp4(root / relpath, 50)
    size, sha = file_digest(root / relpath)
    return await catalog.add_recovered_segment(
        run_id=run.id, start_time=start, end_time=end, media_duration=50 * TICKS, path=relpath, size_bytes=size,
        sha256=sha, frames=50, keyframes=2, codec="h264", width=640, height=360)


# -- the clean-shutdown marker ---------------------------------------------------------


async def test_clean_marker_path_skips_the_full_walk(store: Store) -> None:
    await clean_cycle(store)
    old = old_file(store, 0)  # appeared while nvr was stopped, long before every camera's latest segment
    startup = await start(store)
    assert startup.mode == "clean" and startup.full.state == "not needed", startup.reason
    assert startup.report is not None and startup.report.scan is not None
    assert startup.report.scan.rows == 1 and not startup.report.changed  # the latest segment (and newer) only
    startup.start_background()
    await startup.wait_background()
    assert await store.catalog.segment_by_path(old) is None  # nothing walked the old folder
    await startup.stop()
    assert (await start(store)).mode == "clean"


async def test_clean_path_still_recovers_a_part_left_in_the_latest_folder(store: Store) -> None:
    await clean_cycle(store)
    relpath, _, _ = segment_at("cam-a", RUN_KEY, 3)
    write_killed_part(store.root, relpath, 75, 2)  # an abandoned segment
    startup = await start(store)
    assert startup.mode == "clean" and startup.report is not None and startup.report.indexed == [relpath]
    assert startup.full.state == "scheduled"  # a "clean" stop that left work behind: walk everything later


async def test_no_marker_after_a_crash(store: Store) -> None:
    first = await start(store)
    assert first.mode == "crash" and "no clean-shutdown marker" in first.reason
    assert first.full.state == "scheduled"
    # killed: no stop(); the next start is a crash start again, one generation on
    second = await start(store)
    assert second.mode == "crash" and second.generation == first.generation + 1


async def test_stop_after_an_error_records_no_marker(store: Store) -> None:
    await clean_cycle(store)
    startup = await start(store)
    await startup.stop(RuntimeError("camera registry failed to stop"))
    assert (await start(store)).mode == "crash"


async def test_index_leftovers_keep_the_marker_but_schedule_the_full_walk(store: Store) -> None:
    await clean_cycle(store)
    startup = await start(store)
    await startup.stop(leftovers="the indexer left files to recovery: 3 dropped by a full queue")
    again = await start(store)
    assert again.mode == "clean" and again.full.state == "scheduled"


async def test_unfinished_background_walk_stays_due(store: Store) -> None:
    first = await start(store)
    first.start_background()
    await first.stop()  # before the walk could finish
    assert first.full.state == "stopped"
    second = await start(store)
    assert second.mode == "clean" and second.full.state == "scheduled"
    assert "still due" in second.full.reason


async def test_marker_is_void_when_segments_changed_since(store: Store) -> None:
    await clean_cycle(store)
    await old_row(store.catalog, store.root, 0)  # e.g. `nvr check-storage --repair`, or an older nvr, ran since
    startup = await start(store)
    assert startup.mode == "crash" and "segments changed" in startup.reason


async def test_marker_is_void_for_another_storage_root(store: Store, tmp_path: Path) -> None:
    await clean_cycle(store)
    other = tmp_path / "other-root"
    other.mkdir()
    startup = await start(store, other)
    assert startup.mode == "crash" and "storage root" in startup.reason


async def test_marker_of_an_older_generation_is_void(store: Store) -> None:
    await clean_cycle(store)
    generation, text = await store.catalog.begin_generation()  # a start that never recorded its stop
    assert text is not None
    await store.catalog.set_meta(Catalog.CLEAN_SHUTDOWN_KEY, text)  # the stale marker put back
    startup = await start(store)
    assert startup.mode == "crash" and f"start {generation}" in startup.reason


# -- the crash path -----------------------------------------------------------------------


async def test_crash_path_fixes_the_last_hours_orphans_synchronously(store: Store) -> None:
    renamed, _, _ = segment_at("cam-a", RUN_KEY, 3)
    write_fmp4(store.root / renamed, 2 * FPS)  # closed and renamed, not yet indexed
    part, start_4, _ = segment_at("cam-a", RUN_KEY, 4)
    write_killed_part(store.root, part, 75, 2)  # being written at the kill
    old = old_file(store, 0)
    startup = await start(store)
    report = startup.report
    assert startup.mode == "crash" and report is not None
    assert report.runs_ended == [store.run.id] and report.indexed == [renamed, part]
    run = await store.catalog.get_run(store.run.id)
    assert run is not None and run.ended_at == start_4 + 2_000_000 and run.reason_ended == "crash"
    assert await store.catalog.segment_by_path(old) is None  # left to the background walk
    assert startup.full.state == "scheduled"


async def test_crash_window_reaches_ten_minutes_back(store: Store) -> None:
    """Files without rows from just before the latest segment (here across an hour folder) are found at once."""
    key = RUN_KEY - 1_800_000_000  # 09:30
    await store.catalog.upsert_camera("cam-b")
    run = await store.catalog.start_run("cam-b", key)
    older, recent, latest = [await add_recorded(store.catalog, store.root, "cam-b", run.id, seq, run_key=key)
                             for seq in (300, 780, 900)]  # 09:40, 09:56, 10:00
    assert [s.path.split("/")[2] for s in (older, recent, latest)] == ["09", "09", "10"]
    await store.catalog.mark_segment_garbage([older.id, recent.id])
    await store.catalog.delete_segments([older.id, recent.id])  # their files are left without rows
    for seg in (older, recent):
        os.utime(store.root / seg.path, (HOUR_AGO, HOUR_AGO))
    startup = await start(store)
    assert startup.report is not None and startup.report.indexed == [recent.path]
    startup.start_background()
    await startup.wait_background()
    assert startup.full.state == "done" and await store.catalog.segment_by_path(older.path) is not None


async def test_unmounted_disk_keeps_rows_on_the_fast_path(store: Store) -> None:
    for seq in range(3, 30):
        await add_recorded(store.catalog, store.root, "cam-a", store.run.id, seq)
    for path in sorted((store.root / "cam-a").rglob("*.mp4")):
        path.unlink()
    startup = await start(store)
    assert startup.report is not None and not startup.report.rows_removed and startup.report.errors
    assert len(await store.catalog.iter_segments(0, 100)) == 30


# -- the background walk ------------------------------------------------------------------


async def test_background_walk_repairs_old_orphans(store: Store) -> None:
    old = old_file(store, 0)
    old_part = old_file(store, 1, partial=True)
    lost = await old_row(store.catalog, store.root, 5)
    (store.root / lost.path).unlink()
    writing, _, _ = segment_at("cam-a", OLD_KEY, 9)  # a .part this process holds open: never touched
    held = partial_path(store.root / writing)
    write_fmp4(held, 25)
    os.utime(held, (HOUR_AGO, HOUR_AGO))
    with open(held, "ab"):
        startup = await start(store)
        assert startup.report is not None and not startup.report.indexed  # all of it is outside the window
        startup.start_background()
        await startup.wait_background()
    full = startup.full
    assert full.state == "done" and full.problems == 3, full
    assert await store.catalog.segment_by_path(old) is not None
    assert await store.catalog.segment_by_path(old_part.removesuffix(".part")) is not None
    assert await store.catalog.get_segment(lost.id) is None
    assert held.exists() and await store.catalog.segment_by_path(writing) is None
    recorded = json.loads(await store.catalog.get_meta(LAST_FULL_CHECK_KEY) or "{}")
    assert recorded["state"] == "done" and recorded["problems"] == 3
    await startup.stop()
    again = await start(store)
    assert again.mode == "clean" and again.full.state == "not needed"


async def test_background_walk_leaves_files_of_this_process_alone(store: Store) -> None:
    startup = await start(store)
    fresh = old_file(store, 0)  # the recorder's, with a clock that stepped back: written after the start
    os.utime(store.root / fresh, None)
    startup.start_background()
    await startup.wait_background()
    assert startup.full.state == "done" and startup.full.problems == 0
    assert await store.catalog.segment_by_path(fresh) is None


async def test_status_for_the_ui(store: Store) -> None:
    startup = await start(store)
    status = startup.status()
    assert status["mode"] == "crash" and status["full_check"]["state"] == "scheduled"
    assert "run(s) ended" in status["summary"]


async def test_server_wiring_background_check_then_clean_stop(tmp_path: Path, write_config, start_server,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``nvr.app.Server``: crash start, background check in ``Runtime.extras``, marker at stop, clean start."""
    monkeypatch.setattr(recovery_startup, "BACKGROUND_DELAY_S", 0.0)
    db = tmp_path / "catalog.db"
    config = write_config(f'[catalog]\nurl = "{db}"\n')
    async with await open_catalog(str(db)) as catalog:
        store = await make_store(catalog, tmp_path / "storage")  # an open run: the last server was killed
        old = old_file(store, 0)
    async with start_server(config) as server:
        assert server.runtime.config.storage.root == store.root
        startup = server.runtime.extras["storage_recovery"]
        assert startup.mode == "crash" and startup.report.runs_ended == [store.run.id]
        await startup.wait_background()
        assert startup.status()["full_check"]["state"] == "done"
        assert await server.runtime.catalog.segment_by_path(old) is not None
    async with start_server(config) as server:
        startup = server.runtime.extras["storage_recovery"]
        assert startup.mode == "clean" and startup.full.state == "not needed", startup.reason


# -- pieces ---------------------------------------------------------------------------------


def test_window_bounds() -> None:
    latest = utc_us(T0) + 4_000_000
    assert window_lower("cam", window_start(latest, latest + 60_000_000, CRASH_MARGIN_US)) == \
        "cam/2024-05-01/09/20240501T095004.000000"
    assert window_lower("cam", window_start(latest, latest, 0)) == "cam/2024-05-01/10/20240501T100004.000000"
    assert window_lower("cam", window_start(latest, latest - 86_400_000_000, 0)) == \
        "cam/2024-04-30/10/20240430T100004.000000"  # a camera clock ahead of the reference: capped
    assert window_lower("cam", window_start(None, latest, 0)) == "cam/"
    relpath, _, _ = segment_at("cam", RUN_KEY, 2)  # starts at T0 + 4 s: the latest segment itself is in
    assert relpath > window_lower("cam", latest) > segment_at("cam", RUN_KEY, 1)[0]


def test_window_listing_prunes_older_folders(tmp_path: Path) -> None:
    for rel in ("cam/2024-04-30/23/a.mp4", "cam/2024-05-01/09/b.mp4", "cam/2024-05-01/10/c.mp4",
                "cam/2024-05-01/11/d.mp4.part", "cam/2024-05-01/11/e.mp4", "cam/2024-05-02/00/f.mp4",
                "cam/zzz/g.txt", "cam/.hidden/h.mp4", "cam/2024-05-01/11/.x.mp4"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    window = _list_window(tmp_path, "cam", "cam/2024-05-01/10/")
    assert [f.relpath for f in window.files] == ["cam/2024-05-01/10/c.mp4", "cam/2024-05-01/11/d.mp4.part",
                                                 "cam/2024-05-01/11/e.mp4", "cam/2024-05-02/00/f.mp4",
                                                 "cam/zzz/g.txt"]
    window = _list_window(tmp_path, "cam", "cam/2024-05-01/11/d")  # inside a folder: by name
    assert [f.relpath for f in window.files][:2] == ["cam/2024-05-01/11/d.mp4.part", "cam/2024-05-01/11/e.mp4"]


async def test_catalog_start_up_accessors(store: Store) -> None:
    catalog = store.catalog
    generation, marker = await catalog.begin_generation()
    assert marker is None and (await catalog.begin_generation())[0] == generation + 1
    assert not await catalog.record_clean_shutdown(generation, "stale")
    assert await catalog.record_clean_shutdown(generation + 1, Marker(generation + 1, 1, "/r", 3, False).to_json())
    assert Marker.parse((await catalog.begin_generation())[1]) == Marker(generation + 1, 1, "/r", 3, False)
    assert await catalog.last_segment_id() == store.segments[-1].id
    assert await catalog.latest_segment_starts() == {"cam-a": store.segments[-1].start_time}
    rows = await catalog.segment_files_in([("cam-a/", "cam-a0"), ("cam-b/", "cam-b0")])
    assert [r[1] for r in rows] == [s.path for s in store.segments]
    assert await catalog.end_open_runs("crash") == [(store.run.id, store.run.camera_id, store.segments[-1].end_time)]
    assert await catalog.open_runs() == [] and await catalog.end_open_runs("crash") == []
