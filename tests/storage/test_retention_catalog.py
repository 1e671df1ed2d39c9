"""Catalog methods retention is built on (holds, events, usage, bounded scans), on every backend."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from nvr.clock import ManualClock, now_us
from nvr.errors import CatalogError
from nvr.models import MEDIA_TIMEBASE, CameraUsage, Run, Segment, SegmentSpan
from nvr.storage.catalog import Catalog

S = 1_000_000
MIN = 60 * S
T0 = 1_700_000_000 * S


async def add(cat: Catalog, run: Run, start: int, end: int | None = None, size: int = 1000, **kw: Any) -> Segment:
    end = start + MIN if end is None else end
    path = kw.pop("path", f"r{run.id}/{start}.mp4")
    return await cat.add_segment(
        run_id=run.id, start_time=start, end_time=end, media_duration=(end - start) * MEDIA_TIMEBASE // S,
        path=path, size_bytes=size, sha256=hashlib.sha256(path.encode()).hexdigest(), frames=10, keyframes=1,
        codec="h264", **kw,
    )


async def camera_with(cat: Catalog, name: str, starts: list[int], size: int = 1000, end_run: bool = True) -> Run:
    """A camera with one run holding one-minute segments at ``starts``."""
    await cat.upsert_camera(name)
    run = await cat.start_run(name, starts[0] if starts else T0)
    for start in starts:
        await add(cat, run, start, size=size)
    if end_run:
        run = await cat.end_run(run.id, (starts[-1] + MIN) if starts else T0, "test")
    return run


# -- holds -----------------------------------------------------------------------------


async def test_add_and_get_hold(catalog: Catalog, clock: ManualClock) -> None:
    await catalog.upsert_camera("cam-a")
    h = await catalog.add_hold("cam-a", T0, T0 + MIN, "  complaint 42  ", created_by="ops", expires_at_us=T0 + 5)
    assert (h.camera_name, h.start_time, h.end_time, h.reason, h.created_by) == ("cam-a", T0, T0 + MIN,
                                                                                 "complaint 42", "ops")
    assert h.camera_id is not None and h.expires_at == T0 + 5 and h.released_at is None
    assert h.created_at == now_us(clock)
    assert await catalog.get_hold(h.id) == h
    assert await catalog.get_hold(h.id + 100) is None


async def test_hold_on_all_cameras(catalog: Catalog) -> None:
    h = await catalog.add_hold(None, T0, T0 + MIN, "city-wide incident")
    assert h.camera_id is None and h.camera_name is None
    assert h.covers("any-camera", T0, T0 + 1)


@pytest.mark.parametrize(
    ("camera", "start", "end", "reason", "message"),
    [
        ("nope", T0, T0 + 1, "r", "unknown camera 'nope'"),
        ("cam-a", T0, T0, "r", "empty or inverted"),
        ("cam-a", T0 + 1, T0, "r", "empty or inverted"),
        ("cam-a", T0, T0 + 1, "  ", "needs a reason"),
    ],
)
async def test_add_hold_rejects(catalog: Catalog, camera: str, start: int, end: int, reason: str,
                                message: str) -> None:
    await catalog.upsert_camera("cam-a")
    with pytest.raises(CatalogError, match=message):
        await catalog.add_hold(camera, start, end, reason)
    assert await catalog.list_holds() == []


async def test_active_holds_expiry_and_release(catalog: Catalog) -> None:
    await catalog.upsert_camera("cam-a")
    forever = await catalog.add_hold("cam-a", T0, T0 + MIN, "a")
    expiring = await catalog.add_hold(None, T0, T0 + MIN, "b", expires_at_us=T0 + 10)
    released = await catalog.add_hold("cam-a", T0, T0 + MIN, "c")
    await catalog.release_hold(released.id, T0 + 5)
    assert [h.id for h in await catalog.active_holds(T0)] == [forever.id, expiring.id, released.id]
    assert [h.id for h in await catalog.active_holds(T0 + 5)] == [forever.id, expiring.id]
    assert [h.id for h in await catalog.active_holds(T0 + 9)] == [forever.id, expiring.id]
    assert [h.id for h in await catalog.active_holds(T0 + 10)] == [forever.id]  # expires_at is exclusive
    assert [h.id for h in await catalog.list_holds()] == [forever.id, expiring.id, released.id]
    for h in await catalog.list_holds():
        assert h.is_active(T0 + 10) == (h.id == forever.id)


async def test_release_hold_is_idempotent_and_checks_the_id(catalog: Catalog) -> None:
    h = await catalog.add_hold(None, T0, T0 + MIN, "x")
    first = await catalog.release_hold(h.id, T0 + 1)
    again = await catalog.release_hold(h.id, T0 + 99)
    assert first.released_at == again.released_at == T0 + 1
    with pytest.raises(CatalogError, match="unknown hold"):
        await catalog.release_hold(h.id + 1, T0)


# -- events ----------------------------------------------------------------------------


async def test_events_and_windows(catalog: Catalog) -> None:
    await catalog.upsert_camera("cam-a")
    await catalog.upsert_camera("cam-b")
    e1 = await catalog.add_event("cam-a", "person", T0, T0 + 10 * S)
    e2 = await catalog.add_event("cam-a", "fire", T0 + MIN, T0 + MIN)  # an instant
    await catalog.add_event("cam-b", "person", T0, T0 + 10 * S)
    assert e2 > e1
    assert await catalog.event_windows("cam-a", T0, T0 + 2 * MIN) == [(T0, T0 + 10 * S), (T0 + MIN, T0 + MIN)]
    # Touching the window's start counts (events are closed); starting at its end does not.
    assert await catalog.event_windows("cam-a", T0 + 10 * S, T0 + MIN) == [(T0, T0 + 10 * S)]
    assert await catalog.event_windows("cam-a", T0 + 11 * S, T0 + MIN + 1) == [(T0 + MIN, T0 + MIN)]
    assert await catalog.event_windows("nope", T0, T0 + MIN) == []
    many = await catalog.event_windows_many([("cam-b", T0, T0 + 1), ("cam-a", T0 + 30 * S, T0 + 2 * MIN)])
    assert many == [[(T0, T0 + 10 * S)], [(T0 + MIN, T0 + MIN)]]


async def test_add_event_rejects(catalog: Catalog) -> None:
    await catalog.upsert_camera("cam-a")
    with pytest.raises(CatalogError, match="unknown camera"):
        await catalog.add_event("nope", "person", T0, T0)
    with pytest.raises(CatalogError, match="ends before it starts"):
        await catalog.add_event("cam-a", "person", T0, T0 - 1)
    with pytest.raises(CatalogError, match="kind"):
        await catalog.add_event("cam-a", "", T0, T0)


# -- usage -----------------------------------------------------------------------------


async def test_usage_by_camera(catalog: Catalog) -> None:
    await camera_with(catalog, "cam-b", [T0 + i * MIN for i in range(3)], size=10)
    await camera_with(catalog, "cam-a", [T0 + 5 * MIN], size=7)
    await catalog.upsert_camera("cam-c")
    segs = await catalog.segments("cam-b", T0, T0 + 10 * MIN)
    await catalog.mark_segment_garbage([segs[0].id])  # garbage no longer counts
    usage = await catalog.usage_by_camera()
    assert [(u.camera, u.segments, u.bytes, u.oldest_start, u.newest_end) for u in usage] == [
        ("cam-a", 1, 7, T0 + 5 * MIN, T0 + 6 * MIN),
        ("cam-b", 2, 20, T0 + MIN, T0 + 3 * MIN),
        ("cam-c", 0, 0, None, None),
    ]
    assert all(isinstance(u, CameraUsage) for u in usage)


async def test_newest_end_is_the_latest_end_even_with_overlapping_runs(catalog: Catalog) -> None:
    await catalog.upsert_camera("cam-a")
    long = await catalog.start_run("cam-a", T0)
    await add(catalog, long, T0, T0 + 50 * MIN)
    await catalog.end_run(long.id, T0 + 50 * MIN, "clock step")
    short = await catalog.start_run("cam-a", T0 + 10 * MIN)
    await add(catalog, short, T0 + 10 * MIN, T0 + 11 * MIN)
    [usage] = await catalog.usage_by_camera()
    assert usage.newest_end == T0 + 50 * MIN and usage.oldest_start == T0


async def test_usage_since(catalog: Catalog) -> None:
    await camera_with(catalog, "cam-a", [T0, T0 + MIN], size=10)
    grown, top = await catalog.usage_since(0)
    assert [(u.camera, u.segments, u.bytes) for u in grown] == [("cam-a", 2, 20)]
    run = await camera_with(catalog, "cam-b", [T0], size=5, end_run=False)
    await add(catalog, run, T0 + MIN, size=6)
    grown, top2 = await catalog.usage_since(top)
    assert [(u.camera, u.segments, u.bytes) for u in grown] == [("cam-b", 2, 11)]
    assert top2 == top + 2
    assert await catalog.usage_since(top2) == ([], top2)


# -- bounded scans ---------------------------------------------------------------------


async def test_segments_before_pages_oldest_first(catalog: Catalog) -> None:
    await camera_with(catalog, "cam-a", [T0 + i * MIN for i in range(10)])
    await camera_with(catalog, "cam-b", [T0 + i * MIN for i in range(10)])
    rows = await catalog.segments_before("cam-a", T0 + 5 * MIN, 100)
    assert [r.start_time for r in rows] == [T0 + i * MIN for i in range(5)]  # the one ending at 5 min included
    assert all(isinstance(r, SegmentSpan) for r in rows)
    first = await catalog.segments_before("cam-a", T0 + 10 * MIN, 3)
    second = await catalog.segments_before("cam-a", T0 + 10 * MIN, 3,
                                           after=(first[-1].start_time, first[-1].id))
    assert [r.start_time for r in first + second] == [T0 + i * MIN for i in range(6)]
    full = await catalog.get_segment(first[0].id)
    assert full is not None
    assert first[0] == (full.id, full.camera_id, full.start_time, full.end_time, full.size_bytes, full.path)
    assert await catalog.segments_before("nope", T0 + 10 * MIN, 10) == []
    assert await catalog.segments_before("cam-a", T0 + 10 * MIN, 0) == []


async def test_segments_before_ties_on_start_page_by_id(catalog: Catalog) -> None:
    await catalog.upsert_camera("cam-a")
    ids = []
    for i in range(3):  # three runs starting at the same instant (clock steps)
        run = await catalog.start_run("cam-a", T0)
        ids.append((await add(catalog, run, T0, path=f"p{i}.mp4")).id)
        await catalog.end_run(run.id, T0 + MIN, "x")
    got: list[int] = []
    after = None
    while page := await catalog.segments_before("cam-a", T0 + MIN, 1, after=after):
        got += [r.id for r in page]
        after = (page[-1].start_time, page[-1].id)
    assert got == sorted(ids)


async def test_segments_before_skips_garbage_and_many(catalog: Catalog) -> None:
    await camera_with(catalog, "cam-a", [T0 + i * MIN for i in range(4)])
    await camera_with(catalog, "cam-b", [T0 + i * MIN for i in range(4)])
    rows = await catalog.segments_before("cam-a", T0 + 10 * MIN, 10)
    await catalog.mark_segment_garbage([rows[0].id])
    many = await catalog.segments_before_many(
        [("cam-a", T0 + 10 * MIN, None, 10), ("cam-b", T0 + 2 * MIN, None, 10), ("nope", T0, None, 10),
         ("cam-a", T0 + 10 * MIN, (rows[2].start_time, rows[2].id), 10), ("cam-b", T0 + 10 * MIN, None, 1)])
    assert [[r.start_time - T0 for r in rs] for rs in many] == [
        [MIN, 2 * MIN, 3 * MIN], [0, MIN], [], [3 * MIN], [0]]


async def test_oldest_segments_across_cameras(catalog: Catalog) -> None:
    await camera_with(catalog, "cam-a", [T0 + i * 2 * MIN for i in range(3)])  # 0, 2, 4
    b = await camera_with(catalog, "cam-b", [T0 + MIN + i * 2 * MIN for i in range(3)])  # 1, 3, 5
    rows = await catalog.oldest_segments(4)
    assert [r.start_time - T0 for r in rows] == [0, MIN, 2 * MIN, 3 * MIN]
    rest = await catalog.oldest_segments(10, after=(rows[-1].start_time, rows[-1].id))
    assert [r.start_time - T0 for r in rest] == [4 * MIN, 5 * MIN]
    only_a = await catalog.oldest_segments(10, exclude_camera_ids=[b.camera_id])
    assert [r.start_time - T0 for r in only_a] == [0, 2 * MIN, 4 * MIN]
    await catalog.mark_segment_garbage([rows[0].id])
    assert (await catalog.oldest_segments(1))[0].start_time == T0 + MIN


# -- hold-aware garbage marking ---------------------------------------------------------


async def test_mark_garbage_unless_held(catalog: Catalog) -> None:
    await camera_with(catalog, "cam-a", [T0 + i * MIN for i in range(5)])
    await camera_with(catalog, "cam-b", [T0 + i * MIN for i in range(5)])
    a = await catalog.segments_before("cam-a", T0 + 10 * MIN, 10)
    b = await catalog.segments_before("cam-b", T0 + 10 * MIN, 10)
    await catalog.add_hold("cam-a", T0 + MIN, T0 + 2 * MIN, "a1")  # exactly segment 1; touches 0 and 2
    await catalog.add_hold(None, T0 + 3 * MIN + 1, T0 + 3 * MIN + 2, "all")  # inside segment 3
    await catalog.add_hold("cam-a", T0 + 4 * MIN, T0 + 5 * MIN, "expired", expires_at_us=T0)
    released = await catalog.add_hold("cam-b", T0, T0 + 5 * MIN, "released")
    await catalog.release_hold(released.id, T0)
    marked = await catalog.mark_segment_garbage_unless_held([s.id for s in a + b], T0 + 1)
    assert sorted(marked) == sorted([a[0].id, a[2].id, a[4].id, b[0].id, b[1].id, b[2].id, b[4].id])
    left = {s.id for s in await catalog.segments("cam-a", T0, T0 + 10 * MIN)}
    assert left == {a[1].id, a[3].id}
    assert await catalog.mark_segment_garbage_unless_held(marked, T0 + 1) == []  # already garbage
    assert await catalog.delete_segments(marked) == len(marked)


# -- runs and gaps ---------------------------------------------------------------------


async def test_runs_in_range(catalog: Catalog) -> None:
    await catalog.upsert_camera("cam-a")
    r1 = await catalog.start_run("cam-a", T0)
    await catalog.end_run(r1.id, T0 + 10 * MIN, "drop")
    r2 = await catalog.start_run("cam-a", T0 + 20 * MIN)
    await catalog.end_run(r2.id, T0 + 30 * MIN, "drop")
    r3 = await catalog.start_run("cam-a", T0 + 40 * MIN)  # still open
    ids = lambda runs: [r.id for r in runs]  # noqa: E731
    assert ids(await catalog.runs_in_range("cam-a", T0, T0 + 100 * MIN)) == [r1.id, r2.id, r3.id]
    assert ids(await catalog.runs_in_range("cam-a", T0 + 10 * MIN, T0 + 20 * MIN)) == []  # both touch only
    assert ids(await catalog.runs_in_range("cam-a", T0 + 5 * MIN, T0 + 25 * MIN)) == [r1.id, r2.id]
    assert ids(await catalog.runs_in_range("cam-a", T0 + 500 * MIN, T0 + 600 * MIN)) == [r3.id]
    assert await catalog.runs_in_range("nope", T0, T0 + MIN) == []


async def test_gaps(catalog: Catalog) -> None:
    await catalog.upsert_camera("cam-a")
    r1 = await catalog.start_run("cam-a", T0)
    for i in range(3):  # 0-3 min, touching
        await add(catalog, r1, T0 + i * MIN)
    await catalog.end_run(r1.id, T0 + 3 * MIN, "drop")
    r2 = await catalog.start_run("cam-a", T0 + 5 * MIN)
    await add(catalog, r2, T0 + 5 * MIN)
    await add(catalog, r2, T0 + 6 * MIN + S)  # a one-second hole inside the run
    assert await catalog.gaps("cam-a", T0, T0 + 10 * MIN) == [
        (T0 + 3 * MIN, T0 + 5 * MIN), (T0 + 6 * MIN, T0 + 6 * MIN + S), (T0 + 7 * MIN + S, T0 + 10 * MIN)]
    assert await catalog.gaps("cam-a", T0, T0 + 10 * MIN, min_gap_us=2 * S) == [
        (T0 + 3 * MIN, T0 + 5 * MIN), (T0 + 7 * MIN + S, T0 + 10 * MIN)]
    assert await catalog.gaps("cam-a", T0 - MIN, T0 + 2 * MIN) == [(T0 - MIN, T0)]
    assert await catalog.gaps("cam-a", T0 + 30 * S, T0 + 90 * S) == []  # window inside footage
    assert await catalog.gaps("nope", T0, T0 + MIN) == [(T0, T0 + MIN)]
    with pytest.raises(CatalogError, match="inverted"):
        await catalog.gaps("cam-a", T0 + 1, T0)


async def test_gaps_with_overlapping_runs_and_deleted_footage(catalog: Catalog) -> None:
    await catalog.upsert_camera("cam-a")
    r1 = await catalog.start_run("cam-a", T0)
    long = await add(catalog, r1, T0, T0 + 30 * MIN)
    await catalog.end_run(r1.id, T0 + 30 * MIN, "clock step")
    r2 = await catalog.start_run("cam-a", T0 + 5 * MIN)
    await add(catalog, r2, T0 + 5 * MIN)  # inside the long one: no gap after it
    assert await catalog.gaps("cam-a", T0, T0 + 30 * MIN) == []
    await catalog.mark_segment_garbage([long.id])
    assert await catalog.gaps("cam-a", T0, T0 + 30 * MIN) == [(T0, T0 + 5 * MIN), (T0 + 6 * MIN, T0 + 30 * MIN)]
