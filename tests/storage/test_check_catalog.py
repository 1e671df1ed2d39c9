"""Catalog methods for recovery and ``nvr check-storage``, run against every backend."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from nvr.errors import CatalogError
from nvr.models import MEDIA_TIMEBASE, Run, Segment
from nvr.storage.catalog import Catalog

S = 1_000_000
T0 = 1_700_000_000 * S


def fields(run_id: int, start: int, end: int, path: str, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_id": run_id, "start_time": start, "end_time": end,
        "media_duration": (end - start) * MEDIA_TIMEBASE // S, "path": path, "size_bytes": 1000,
        "sha256": hashlib.sha256(path.encode()).hexdigest(), "frames": 50, "keyframes": 2, "codec": "h264",
    }
    out.update(kw)
    return out


async def add(cat: Catalog, run: Run, start_s: int, end_s: int, path: str | None = None) -> Segment:
    path = path or f"cam-a/x/{run.id}-{start_s}.mp4"
    return await cat.add_segment(**fields(run.id, T0 + start_s * S, T0 + end_s * S, path))


@pytest.fixture
async def run(catalog: Catalog) -> Run:
    await catalog.upsert_camera("cam-a")
    return await catalog.start_run("cam-a", T0)


async def test_segment_files_pages_by_path_in_byte_order(catalog: Catalog, run: Run) -> None:
    paths = ["cam-a/b.mp4", "cam/a.mp4", "cam-a/a.mp4", "cam_z/a.mp4", "cam0/a.mp4"]
    for i, p in enumerate(paths):
        await add(catalog, run, i * 10, i * 10 + 10, p)
    seen: list[tuple[int, str, int, str, str]] = []
    after = ""
    while page := await catalog.segment_files(after, 2):
        assert len(page) <= 2
        seen += page
        after = page[-1][1]
    assert [r[1] for r in seen] == sorted(paths)  # '-' < '/' < '0' < '_' (byte order)
    first = seen[0]
    seg = await catalog.segment_by_path(first[1])
    assert seg is not None and first == (seg.id, seg.path, seg.size_bytes, seg.sha256, "ok")


async def test_segment_files_includes_garbage(catalog: Catalog, run: Run) -> None:
    a = await add(catalog, run, 0, 10)
    await catalog.mark_segment_garbage([a.id])
    assert [r[4] for r in await catalog.segment_files()] == ["garbage"]


async def test_iter_segments_pages_by_id(catalog: Catalog, run: Run) -> None:
    made = [await add(catalog, run, i * 10, i * 10 + 10) for i in range(5)]
    await catalog.mark_segment_garbage([made[1].id])
    page1 = await catalog.iter_segments(0, 3)
    page2 = await catalog.iter_segments(page1[-1].id, 3)
    assert [s.id for s in page1 + page2] == [s.id for s in made]
    assert page1[1].state == "garbage"
    assert await catalog.iter_segments(page2[-1].id, 3) == []


async def test_run_by_start(catalog: Catalog, run: Run) -> None:
    assert await catalog.run_by_start("cam-a", T0) == run
    assert await catalog.run_by_start("cam-a", T0 + 1) is None
    assert await catalog.run_by_start("nope", T0) is None


async def test_insert_ended_run_creates_camera_and_allows_removed(catalog: Catalog, run: Run) -> None:
    r = await catalog.insert_ended_run("cam-new", T0, T0 + 5 * S, "crash")
    assert (r.started_at, r.ended_at, r.reason_ended) == (T0, T0 + 5 * S, "crash")
    assert (await catalog.get_camera("cam-new")) is not None
    await catalog.mark_camera_removed("cam-new")
    r2 = await catalog.insert_ended_run("cam-new", T0 + 10 * S, T0 + 10 * S, "crash")
    assert not r2.is_open
    # an ended run does not block the camera's open run
    assert (await catalog.insert_ended_run("cam-a", T0 - 100 * S, T0 - 90 * S, "crash")).camera_id == run.camera_id
    with pytest.raises(CatalogError, match="before its start"):
        await catalog.insert_ended_run("cam-a", T0, T0 - 1, "crash")


async def test_segment_neighbours(catalog: Catalog, run: Run) -> None:
    a = await add(catalog, run, 0, 10)
    b = await add(catalog, run, 20, 30)
    assert await catalog.segment_neighbours(run.id, T0 - 1) == (None, a)
    assert await catalog.segment_neighbours(run.id, T0) == (a, b)
    assert await catalog.segment_neighbours(run.id, T0 + 15 * S) == (a, b)
    assert await catalog.segment_neighbours(run.id, T0 + 25 * S) == (b, None)


async def test_add_recovered_segment_appends_to_an_ended_run_and_extends_it(catalog: Catalog, run: Run) -> None:
    await add(catalog, run, 0, 10)
    await catalog.end_run(run.id, T0 + 10 * S, "crash")
    seg = await catalog.add_recovered_segment(**fields(run.id, T0 + 10 * S, T0 + 14 * S, "cam-a/x/rec.mp4"))
    assert seg.seq == 1 and seg.state == "ok"
    assert (await catalog.get_run(run.id)).ended_at == T0 + 14 * S  # type: ignore[union-attr]


async def test_add_recovered_segment_into_open_run(catalog: Catalog, run: Run) -> None:
    seg = await catalog.add_recovered_segment(**fields(run.id, T0, T0 + 4 * S, "cam-a/x/first.mp4"))
    assert seg.seq == 0
    assert (await catalog.get_run(run.id)).is_open  # type: ignore[union-attr]
    nxt = await add(catalog, run, 4, 8)
    assert nxt.seq == 1


async def test_add_recovered_segment_in_the_middle_renumbers(catalog: Catalog, run: Run) -> None:
    """The indexer numbers rows last+1, so a skipped file's number is taken: later rows shift up."""
    a = await add(catalog, run, 0, 10)
    c = await add(catalog, run, 20, 30)
    d = await add(catalog, run, 30, 40)
    assert (a.seq, c.seq, d.seq) == (0, 1, 2)
    b = await catalog.add_recovered_segment(**fields(run.id, T0 + 10 * S, T0 + 20 * S, "cam-a/x/b.mp4"))
    assert b.seq == 1
    seqs = [(await catalog.get_segment(s.id)).seq for s in (a, b, c, d)]  # type: ignore[union-attr]
    assert seqs == [0, 1, 2, 3]
    # before the first one
    z = await catalog.add_recovered_segment(**fields(run.id, T0 - 10 * S, T0, "cam-a/x/z.mp4"))
    assert z.seq == 0
    seqs = [(await catalog.get_segment(s.id)).seq for s in (z, a, b, c, d)]  # type: ignore[union-attr]
    assert seqs == [0, 1, 2, 3, 4]


async def test_add_recovered_segment_refuses_overlaps_and_duplicates(catalog: Catalog, run: Run) -> None:
    await add(catalog, run, 0, 10)
    await add(catalog, run, 20, 30)
    with pytest.raises(CatalogError, match="overlapping the run's previous"):
        await catalog.add_recovered_segment(**fields(run.id, T0 + 5 * S, T0 + 15 * S, "cam-a/x/o1.mp4"))
    with pytest.raises(CatalogError, match="overlapping the run's next"):
        await catalog.add_recovered_segment(**fields(run.id, T0 + 10 * S, T0 + 21 * S, "cam-a/x/o2.mp4"))
    with pytest.raises(CatalogError, match="already catalogued"):
        await catalog.add_recovered_segment(**fields(run.id, T0 + 10 * S, T0 + 20 * S, "cam-a/x/1-0.mp4"))
    with pytest.raises(CatalogError, match="unknown run"):
        await catalog.add_recovered_segment(**fields(9999, T0 + 10 * S, T0 + 20 * S, "cam-a/x/u.mp4"))
    with pytest.raises(CatalogError, match="sha256"):
        await catalog.add_recovered_segment(**fields(run.id, T0 + 10 * S, T0 + 20 * S, "cam-a/x/h.mp4",
                                                     sha256="X"))


async def test_update_segment_file(catalog: Catalog, run: Run) -> None:
    seg = await add(catalog, run, 0, 10)
    sha = "ab" * 32
    out = await catalog.update_segment_file(seg.id, size_bytes=500, sha256=sha)
    assert (out.size_bytes, out.sha256, out.frames, out.end_time) == (500, sha, seg.frames, seg.end_time)
    out = await catalog.update_segment_file(seg.id, size_bytes=400, sha256=sha, frames=20, keyframes=1,
                                            media_duration=4 * MEDIA_TIMEBASE, end_time=T0 + 4 * S)
    assert (out.frames, out.keyframes, out.media_duration, out.end_time) == (20, 1, 4 * MEDIA_TIMEBASE, T0 + 4 * S)
    assert await catalog.get_segment(seg.id) == out
    with pytest.raises(CatalogError, match="only shrink"):
        await catalog.update_segment_file(seg.id, size_bytes=1, sha256=sha, end_time=T0 + 5 * S)
    with pytest.raises(CatalogError, match="only shrink"):
        await catalog.update_segment_file(seg.id, size_bytes=1, sha256=sha, end_time=T0)
    with pytest.raises(CatalogError, match="keyframes"):
        await catalog.update_segment_file(seg.id, size_bytes=1, sha256=sha, keyframes=99)
    with pytest.raises(CatalogError, match="sha256"):
        await catalog.update_segment_file(seg.id, size_bytes=1, sha256="nothex")
    with pytest.raises(CatalogError, match="unknown segment"):
        await catalog.update_segment_file(12345, size_bytes=1, sha256=sha)
