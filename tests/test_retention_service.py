"""RetentionService against a real catalog and real files under a temporary storage root."""

from __future__ import annotations

import hashlib
import textwrap
from collections import namedtuple
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from nvr.clock import ManualClock, from_utc_us, now_us
from nvr.config import parse_config
from nvr.models import MEDIA_TIMEBASE, Run, Segment
from nvr.plugin_host import PluginHost
from nvr.retention import DAY_US
from nvr.retention_service import RetentionService
from nvr.runtime import Runtime
from nvr.storage.catalog import Catalog, open_catalog
from nvr.storage.layout import segment_relpath

S = 1_000_000
MIN = 60 * S
HOUR = 60 * MIN
Usage = namedtuple("Usage", "total used free")

CAMERAS = """
[[cameras]]
name = "cam-a"
stream.main = "rtsp://127.0.0.1/a"
record.retain_days = 1
record.event_retain_days = 3

[[cameras]]
name = "cam-b"
stream.main = "rtsp://127.0.0.1/b"
record.retain_days = 1
record.event_retain_days = 3
"""


@dataclass
class Env:
    root: Path
    catalog: Catalog
    clock: ManualClock
    runtime: Runtime
    runs: dict[str, Run] = field(default_factory=dict)
    seq: dict[int, int] = field(default_factory=dict)

    @property
    def now(self) -> int:
        return now_us(self.clock)

    def service(self, disk_usage: Callable[[Path], Usage] | None = None) -> RetentionService:
        if disk_usage is None:
            return RetentionService(self.runtime, disk_usage=lambda p: Usage(10**12, 0, 10**12))
        return RetentionService(self.runtime, disk_usage=disk_usage)

    def configure(self, body: str, retention: str = "min_free_percent = 0\nmin_free_gb = 0\n") -> None:
        text = f'[storage]\nroot = "{self.root}"\n[retention]\n{retention}\n{textwrap.dedent(body)}'
        self.runtime.loaded = parse_config(text)

    async def record(self, camera: str, start: int, length: int = MIN, size: int = 1000) -> Segment:
        """Write a real file and catalogue it, as the recorder would (minus fsync)."""
        if camera not in self.runs:
            await self.catalog.upsert_camera(camera)
            self.runs[camera] = await self.catalog.start_run(camera, start)
        run = self.runs[camera]
        seq = self.seq.get(run.id, 0)
        self.seq[run.id] = seq + 1
        rel = segment_relpath(camera, from_utc_us(start), run.id, seq)
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = bytes(size)
        path.write_bytes(data)
        return await self.catalog.add_segment(
            run_id=run.id, start_time=start, end_time=start + length, media_duration=length * MEDIA_TIMEBASE // S,
            path=rel, size_bytes=size, sha256=hashlib.sha256(data).hexdigest(), frames=10, keyframes=1,
            codec="h264", seq=seq,
        )

    async def minutes(self, camera: str, start: int, count: int, size: int = 1000) -> list[Segment]:
        return [await self.record(camera, start + i * MIN, size=size) for i in range(count)]

    def exists(self, seg: Segment) -> bool:
        return (self.root / seg.path).exists()

    async def alive(self, seg: Segment) -> bool:
        """True if both the row (``ok``) and the file are still there."""
        row = await self.catalog.get_segment(seg.id)
        assert (row is not None and not row.is_garbage) == self.exists(seg), f"row and file disagree for {seg.path}"
        return row is not None


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    clock = ManualClock()
    root = tmp_path / "storage"
    root.mkdir()
    catalog = await open_catalog(f"sqlite://{tmp_path / 'catalog.db'}", clock=clock)
    loaded = parse_config(f'[storage]\nroot = "{root}"\n')
    runtime = Runtime(loaded=loaded, plugins=PluginHost(load_entry_points=False), catalog=catalog, clock=clock)
    e = Env(root, catalog, clock, runtime)
    e.configure(CAMERAS)
    try:
        yield e
    finally:
        await catalog.close()


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# -- age, events, holds ---------------------------------------------------------------------


async def test_age_sweep_deletes_files_rows_and_empty_folders(env: Env) -> None:
    old = await env.minutes("cam-a", env.now - 2 * DAY_US, 3)
    young = await env.minutes("cam-a", env.now - 10 * MIN, 2)
    other_old = await env.minutes("cam-b", env.now - 2 * DAY_US - HOUR, 2)
    svc = env.service()
    report = await svc.sweep()
    assert report.deleted == 5 and report.freed_bytes == 5000 and report.error is None
    assert report.reasons == {"age": 5, "cap": 0, "floor": 0} and report.held == 0 and not report.more
    assert [await env.alive(s) for s in old + other_old] == [False] * 5
    assert [await env.alive(s) for s in young] == [True, True]
    assert await env.catalog.garbage_segments() == []
    # Emptied hour and date folders are gone; camera folders and current footage stay.
    assert files_under(env.root) == sorted(s.path for s in young)
    assert sorted(p.name for p in env.root.iterdir()) == ["cam-a", "cam-b"]
    assert list((env.root / "cam-b").iterdir()) == []
    assert svc.last_sweep == report
    again = await svc.sweep()
    assert again.deleted == 0 and again.candidates == 0


async def test_cutoff_boundary(env: Env) -> None:
    at_cutoff = await env.record("cam-a", env.now - DAY_US - MIN)  # ends exactly retain_days ago
    just_inside = await env.record("cam-b", env.now - DAY_US - MIN + 1)  # ends 1 µs later
    await env.service().sweep()
    assert not await env.alive(at_cutoff)
    assert await env.alive(just_inside)


async def test_held_footage_is_never_deleted_and_the_hold_is_untouched(env: Env) -> None:
    segs = await env.minutes("cam-a", env.now - 5 * DAY_US, 5)
    b = await env.minutes("cam-b", env.now - 5 * DAY_US, 5)
    hold = await env.catalog.add_hold("cam-a", segs[1].start_time + 1, segs[2].start_time + 1, "complaint 7")
    everywhere = await env.catalog.add_hold(None, segs[4].start_time, segs[4].end_time, "incident")
    report = await env.service().sweep()
    kept = {s.id for s in segs + b if await env.alive(s)}
    assert kept == {segs[1].id, segs[2].id, segs[4].id, b[4].id}
    assert report.held == 4 and report.deleted == 6
    assert await env.catalog.get_hold(hold.id) == hold
    assert await env.catalog.get_hold(everywhere.id) == everywhere
    assert [h.id for h in await env.catalog.active_holds(env.now)] == [hold.id, everywhere.id]


async def test_released_hold_lets_retention_take_footage_it_already_looked_at(env: Env) -> None:
    seg = await env.record("cam-a", env.now - 2 * DAY_US)  # between retain (1 d) and event retention (3 d)
    hold = await env.catalog.add_hold("cam-a", seg.start_time, seg.end_time, "investigation")
    svc = env.service()
    await svc.sweep()
    assert await env.alive(seg)
    await env.catalog.release_hold(hold.id, env.now)
    env.clock.advance(1)
    await svc.sweep()
    assert not await env.alive(seg)


async def test_expired_hold_no_longer_protects(env: Env) -> None:
    seg = await env.record("cam-a", env.now - 4 * DAY_US)
    await env.catalog.add_hold("cam-a", seg.start_time, seg.end_time, "short", expires_at_us=env.now + HOUR)
    svc = env.service()
    assert (await svc.sweep()).held == 1 and await env.alive(seg)
    env.clock.advance(timedelta(hours=1))
    assert (await svc.sweep()).deleted == 1 and not await env.alive(seg)


async def test_event_keeps_footage_until_event_retention_ends(env: Env) -> None:
    segs = await env.minutes("cam-a", env.now - 2 * DAY_US, 3)
    await env.catalog.add_event("cam-a", "person", segs[1].start_time + 10 * S, segs[1].start_time + 20 * S)
    svc = env.service()
    first = await svc.sweep()
    assert [await env.alive(s) for s in segs] == [False, True, False]
    assert first.deleted == 2
    env.clock.advance(timedelta(hours=12))
    second = await svc.sweep()
    assert second.candidates == 0  # the kept segment is behind the cursor, not read again
    assert await env.alive(segs[1])
    env.clock.advance(timedelta(days=1, hours=12))  # now 4 days old: past event_retain_days
    assert (await svc.sweep()).deleted == 1
    assert not await env.alive(segs[1])


async def test_camera_gone_from_config_keeps_default_retention(env: Env) -> None:
    env.configure(CAMERAS)
    gone_old = await env.record("cam-gone", env.now - 100 * DAY_US)
    gone_recent = await env.record("cam-gone", env.now - 20 * DAY_US)
    await env.service().sweep()
    assert await env.alive(gone_recent)  # default retain_days 30, event_retain_days 90
    assert not await env.alive(gone_old)


async def test_reconfigure_applies_new_rules(env: Env) -> None:
    seg = await env.record("cam-a", env.now - 2 * DAY_US)
    await env.catalog.add_event("cam-a", "person", seg.start_time, seg.end_time)
    svc = env.service()
    await svc.sweep()
    assert await env.alive(seg)
    env.configure(CAMERAS.replace("record.event_retain_days = 3", "record.event_retain_days = 1"))
    svc.reconfigure()
    await svc.sweep()
    assert not await env.alive(seg)


# -- size caps ----------------------------------------------------------------------------


async def test_size_cap_deletes_oldest_first(env: Env) -> None:
    env.configure(CAMERAS.replace('name = "cam-a"', 'name = "cam-a"\nrecord.max_gb = 0.0000025'))  # 2500 bytes
    segs = await env.minutes("cam-a", env.now - HOUR, 5)
    b = await env.minutes("cam-b", env.now - HOUR, 5)
    await env.catalog.add_event("cam-a", "person", segs[0].start_time, segs[0].end_time)  # caps ignore events
    svc = env.service()
    report = await svc.sweep()
    assert report.reasons == {"age": 0, "cap": 3, "floor": 0}
    assert [await env.alive(s) for s in segs] == [False, False, False, True, True]
    assert all([await env.alive(s) for s in b])
    # The cached total follows new footage and our own deletions without a full re-read.
    more = await env.minutes("cam-a", env.now, 2)
    report = await svc.sweep()
    assert report.reasons["cap"] == 2
    assert [await env.alive(s) for s in segs[3:] + more] == [False, False, True, True]


async def test_size_cap_does_not_let_age_take_event_footage_behind_the_cursor(env: Env) -> None:
    env.configure(CAMERAS.replace('name = "cam-a"', 'name = "cam-a"\nrecord.max_gb = 0.000005'))  # 5000 bytes
    kept = await env.minutes("cam-a", env.now - 2 * DAY_US, 4)
    await env.catalog.add_event("cam-a", "person", kept[0].start_time, kept[-1].end_time)
    svc = env.service()
    assert (await svc.sweep()).deleted == 0  # past retain_days, kept for the event; the cursor moves past them
    await env.minutes("cam-a", env.now - 10 * MIN, 2)  # now 6000 bytes: 1000 over the cap
    report = await svc.sweep()
    assert report.reasons == {"age": 0, "cap": 1, "floor": 0}
    assert [await env.alive(s) for s in kept] == [False, True, True, True]


async def test_size_cap_with_hold(env: Env) -> None:
    env.configure(CAMERAS.replace('name = "cam-a"', 'name = "cam-a"\nrecord.max_gb = 0.000001'))  # 1000 bytes
    segs = await env.minutes("cam-a", env.now - HOUR, 3)
    await env.catalog.add_hold("cam-a", segs[0].start_time, segs[1].end_time, "evidence")
    report = await env.service().sweep()
    assert [await env.alive(s) for s in segs] == [True, True, False]
    assert report.cap_unreachable == ("cam-a",)


# -- free-space floor --------------------------------------------------------------------


class FakeDisk:
    """A disk of ``total`` bytes whose used space is the files under the root (injected, not mocked)."""

    def __init__(self, root: Path, total: int, other: int = 0) -> None:
        self.root, self.total, self.other = root, total, other
        self.calls = 0

    def __call__(self, path: Path) -> Usage:
        assert Path(path) == self.root
        self.calls += 1
        used = self.other + sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        return Usage(self.total, used, self.total - used)


FLOOR_50 = "min_free_percent = 50\nmin_free_gb = 0\n"


async def test_floor_deletes_oldest_across_cameras_until_free(env: Env) -> None:
    env.configure(CAMERAS, retention=FLOOR_50)
    a = [await env.record("cam-a", env.now - HOUR + 2 * i * MIN, size=10_000) for i in range(4)]
    b = [await env.record("cam-b", env.now - HOUR + (2 * i + 1) * MIN, size=10_000) for i in range(4)]
    disk = FakeDisk(env.root, total=100_000)  # 80 kB of footage: 20 kB free, 30 kB under the floor
    svc = env.service(disk)
    report = await svc.sweep()
    assert report.floor_needed and not report.floor_unreachable
    assert report.reasons == {"age": 0, "cap": 0, "floor": 3}
    assert [await env.alive(s) for s in a] == [False, False, True, True]
    assert [await env.alive(s) for s in b] == [False, True, True, True]
    assert disk(env.root).free >= 50_000


async def test_floor_with_holds_reports_unreachable(env: Env) -> None:
    env.configure(CAMERAS, retention=FLOOR_50)
    segs = await env.minutes("cam-a", env.now - HOUR, 4, size=10_000)
    await env.catalog.add_hold(None, segs[0].start_time, segs[2].end_time, "incident")
    report = await env.service(FakeDisk(env.root, total=100_000, other=40_000)).sweep()
    assert report.floor_unreachable and report.floor_shortfall_bytes == 20_000
    assert [await env.alive(s) for s in segs] == [True, True, True, False]


async def test_floor_reads_oldest_footage_in_batches(env: Env) -> None:
    env.configure(CAMERAS, retention=FLOOR_50)
    segs = [await env.record(f"cam-{'ab'[i % 2]}", env.now - HOUR + i * MIN, size=1_000) for i in range(40)]
    svc = env.service(FakeDisk(env.root, total=100_000, other=25_000))  # 65 kB used: 15 kB short
    report = await svc.sweep()
    assert report.reasons["floor"] == 15 and report.candidates >= 15
    assert [await env.alive(s) for s in segs] == [False] * 15 + [True] * 25


async def test_floor_does_not_let_age_take_event_footage_behind_the_cursor(env: Env) -> None:
    env.configure(CAMERAS, retention=FLOOR_50)
    kept = await env.minutes("cam-a", env.now - 2 * DAY_US, 4, size=10_000)
    await env.catalog.add_event("cam-a", "person", kept[0].start_time, kept[-1].end_time)
    disk = FakeDisk(env.root, total=100_000)  # 40 kB used: above the floor
    svc = env.service(disk)
    assert (await svc.sweep()).deleted == 0
    disk.other = 20_000  # 60 kB used: 10 kB under the floor
    report = await svc.sweep()
    assert report.reasons == {"age": 0, "cap": 0, "floor": 1}
    assert [await env.alive(s) for s in kept] == [False, True, True, True]


async def test_free_space_check_triggers_a_sweep(env: Env) -> None:
    env.configure(CAMERAS, retention=FLOOR_50)
    segs = await env.minutes("cam-a", env.now - HOUR, 4, size=10_000)
    svc = env.service(FakeDisk(env.root, total=100_000, other=10_000))  # 50 kB used: at the floor
    assert not await svc.check_free_space()
    assert svc.last_disk is not None and svc.last_disk.floor_bytes == 50_000
    await env.record("cam-a", env.now, size=10_000)
    assert await svc.check_free_space()
    await svc.wait()
    assert svc.last_sweep is not None and svc.last_sweep.trigger == "floor"
    assert not await env.alive(segs[0]) and await env.alive(segs[1])


async def test_unreachable_floor_is_not_retried_every_check(env: Env) -> None:
    env.configure(CAMERAS, retention=FLOOR_50)
    segs = await env.minutes("cam-a", env.now - HOUR, 2, size=10_000)
    await env.catalog.add_hold("cam-a", segs[0].start_time, segs[1].end_time, "all of it")
    svc = env.service(FakeDisk(env.root, total=100_000, other=70_000))
    assert await svc.check_free_space()
    await svc.wait()
    assert svc.last_sweep is not None and svc.last_sweep.floor_unreachable
    assert not await svc.check_free_space()  # within a minute of an unreachable sweep
    env.clock.advance(61)
    assert await svc.check_free_space()
    await svc.wait()


# -- deletion mechanics -------------------------------------------------------------------


async def test_missing_file_is_fine(env: Env) -> None:
    seg = await env.record("cam-a", env.now - 2 * DAY_US)
    (env.root / seg.path).unlink()
    report = await env.service().sweep()
    assert report.deleted == 1 and report.failed == 0
    assert await env.catalog.get_segment(seg.id) is None


async def test_file_that_cannot_be_unlinked_keeps_its_row_as_garbage_and_is_retried(env: Env) -> None:
    seg = await env.record("cam-a", env.now - 2 * DAY_US)
    path = env.root / seg.path
    path.unlink()
    path.mkdir()  # unlink() of a folder fails, whoever we run as
    svc = env.service()
    report = await svc.sweep()
    assert report.failed == 1 and report.deleted == 0
    row = await env.catalog.get_segment(seg.id)
    assert row is not None and row.is_garbage
    path.rmdir()
    path.write_bytes(b"x")
    await svc.sweep()
    assert await env.catalog.get_segment(seg.id) is None and not path.exists()


async def test_paging_and_budget_carry_over_to_the_next_sweep(env: Env) -> None:
    segs = await env.minutes("cam-a", env.now - 2 * DAY_US, 12)
    svc = env.service()
    svc.scanner.page = 2
    svc.scanner.scan_limit = 5
    first = await svc.sweep()
    assert first.more and 0 < first.deleted < 12
    assert svc.trigger("manual")  # keeps sweeping while work is left
    await svc.wait()
    assert [await env.alive(s) for s in segs] == [False] * 12
    assert svc.last_sweep is not None and not svc.last_sweep.more


async def test_start_schedules_and_stop_is_prompt(env: Env) -> None:
    await env.record("cam-a", env.now - 2 * DAY_US)
    svc = env.service()
    await svc.start()
    try:
        assert svc.trigger("manual")
        await svc.wait()
        assert svc.last_sweep is not None and svc.last_sweep.deleted == 1
        svc.reconfigure()
    finally:
        await svc.stop()
    assert not svc.trigger("manual")  # stopped services do not sweep


async def test_failed_sweep_is_reported_not_raised(env: Env) -> None:
    svc = env.service()
    await env.catalog.close()
    assert svc.trigger("schedule")
    await svc.wait()
    assert svc.last_sweep is not None and svc.last_sweep.error is not None
    assert "closed" in svc.last_sweep.error
