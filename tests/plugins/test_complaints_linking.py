"""Acceptance: a complaint between cameras links exactly those in the radius, in order, and holds their footage.

Real catalog, real fMP4 segments on disk, the real retention service on a moved clock, the plugin host's hooks.
"""

from __future__ import annotations

import asyncio
import math
from collections import namedtuple
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from nvr.clock import ManualClock, from_utc_us
from nvr.config import parse_config
from nvr.hookspecs import hookimpl
from nvr.models import Segment
from nvr.plugin_host import PluginHost
from nvr.plugins.complaints import KNOWN_KEY, TASKS_KEY
from nvr.plugins.complaints.geo import EARTH_RADIUS_M
from nvr.plugins.complaints.service import receive, set_status
from nvr.retention_service import RetentionService
from nvr.runtime import Runtime
from nvr.storage.catalog import open_catalog
from nvr.storage.complaints_catalog import NewComplaint
from nvr.storage.events_catalog import NewEvent
from tests.export_media import record

S = 1_000_000
DAY = 86_400 * S
T0 = 1_767_240_000 * S  # the report: 2026-01-01T04:00:00Z
P = (-6.1860, 106.8326)  # the complaint's point
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
Usage = namedtuple("Usage", "total used free")


def at(north_m: float = 0.0, east_m: float = 0.0) -> str:
    lat = P[0] + north_m / M_PER_DEG
    lon = P[1] + east_m / (M_PER_DEG * math.cos(math.radians(P[0])))
    return f"{{ lat = {lat:.7f}, lon = {lon:.7f}"


def camera(name: str, where: str, extra: str = "", kelurahan: str = "Menteng") -> str:
    return f"""
[[cameras]]
name = "{name}"
enabled = false
kelurahan = "{kelurahan}"
stream = {{ main = "rtsp://127.0.0.1:9/{name}" }}
location = {where}{extra} }}
record.retain_days = 1
record.event_retain_days = 1
"""


CAMERAS = (camera("c-south-250", at(north_m=-250)) + camera("c-east-150", at(east_m=150), kelurahan="Gambir")
           + camera("c-north-80-facing", at(north_m=80), ", direction_deg = 180, fov_deg = 60")
           + camera("c-west-320", at(east_m=-320)) + camera("c-far", at(north_m=2000)))
PLUGIN = """
[plugins.complaints]
hold_days_after_close = 2
[[plugins.complaints.categories]]
name = "banjir"
before_min = 1
after_min = 0.5
"""


class Env:
    def __init__(self, root: Path, runtime: Runtime, clock: ManualClock) -> None:
        self.root, self.runtime, self.clock = root, runtime, clock
        self.retention = RetentionService(runtime, disk_usage=lambda p: Usage(10**12, 0, 10**12))

    def configure(self, cameras: str) -> None:
        text = f'[storage]\nroot = "{self.root}"\n[retention]\nmin_free_percent = 0\nmin_free_gb = 0\n{cameras}{PLUGIN}'
        self.runtime.loaded = parse_config(text, self.runtime.plugins.config_models())

    async def alive(self, segments: list[Segment]) -> list[bool]:
        rows = [await self.runtime.catalog.get_segment(s.id) for s in segments]
        return [r is not None and not r.is_garbage and (self.root / s.path).exists()
                for r, s in zip(rows, segments, strict=True)]

    async def settle(self) -> None:
        await self.runtime.plugins.drain()
        tasks = list(self.runtime.extras.get(TASKS_KEY, ()))
        if tasks:
            await asyncio.gather(*tasks)
        await self.runtime.plugins.drain()


class Recorder:
    """A plugin recording the complaint hooks it is called with."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @hookimpl
    def complaint_received(self, complaint) -> None:
        self.calls.append(("received", complaint.external_id))

    @hookimpl
    def complaint_linked(self, complaint, cameras, events) -> None:
        self.calls.append(("linked", tuple(c.camera for c in cameras), tuple(events)))

    @hookimpl
    def complaint_status_changed(self, complaint, old, new, actor) -> None:
        self.calls.append(("status", old, new, actor))


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Env, Recorder]]:
    spy = Recorder()
    clock = ManualClock(from_utc_us(T0 + 5 * 60 * S))
    root = tmp_path / "storage"
    root.mkdir()
    catalog = await open_catalog(f"sqlite://{tmp_path / 'catalog.db'}", clock=clock)
    host = PluginHost(load_entry_points=False, extra_plugins=[("spy", spy)])
    runtime = Runtime(loaded=parse_config(f'[storage]\nroot = "{root}"\n'), plugins=host, catalog=catalog, clock=clock)
    e = Env(root, runtime, clock)
    e.configure(CAMERAS)
    try:
        yield e, spy
    finally:
        await e.settle()
        await catalog.close()


def flood(external_id: str = "JAKI-77") -> NewComplaint:
    return NewComplaint(external_id=external_id, category="banjir", body="Banjir 50 cm", lat=P[0], lon=P[1],
                        reported_us=T0, agency="Dinas Sumber Daya Air")


@pytest.mark.slow
async def test_links_the_cameras_in_the_radius_in_order_and_retention_keeps_their_window_until_the_hold_ends(
        env) -> None:
    env, spy = env
    catalog = env.runtime.catalog
    footage: dict[str, list[Segment]] = {}
    for cam in env.runtime.config.cameras:  # 10-second segments from 2 min before the report to 1 min after
        footage[cam.name] = await record(catalog, env.root, cam.name, T0 - 120 * S, 18, seconds=10,
                                         kelurahan=cam.kelurahan)
    water = await catalog.open_event(NewEvent(camera="c-east-150", kind="object", label="water", score=0.7,
                                              start_us=T0 - 20 * S, end_us=T0 - 10 * S))
    await catalog.open_event(NewEvent(camera="c-east-150", kind="object", label="person", score=0.9,
                                      start_us=T0 - 20 * S, end_us=T0 - 10 * S))  # not a flood kind
    await catalog.open_event(NewEvent(camera="c-far", kind="object", label="water", score=0.9,
                                      start_us=T0, end_us=T0 + S))  # too far
    await catalog.open_event(NewEvent(camera="c-south-250", kind="object", label="water", score=0.9,
                                      start_us=T0 + 100 * S, end_us=T0 + 110 * S))  # after the window

    complaint, created = await receive(env.runtime, flood(), "jaki-bot")
    await env.settle()
    assert created and complaint.status == "linked" and complaint.kelurahan == "Menteng"  # the nearest camera's
    links = await catalog.complaint_cameras(complaint.id)
    assert [(x.camera, round(x.distance_m), x.facing) for x in links] == [
        ("c-north-80-facing", 80, True), ("c-east-150", 150, None), ("c-south-250", 250, None)]
    assert {(x.start_us, x.end_us) for x in links} == {(T0 - 60 * S, T0 + 30 * S)}
    assert [e.event_id for e in await catalog.complaint_events(complaint.id)] == [water.id]
    in_window = [i for i in range(18) if -120 + 10 * i < 30 and -110 + 10 * i > -60]  # segments 6..14
    for link in links:
        found = await catalog.segments(link.camera, link.start_us, link.end_us)
        assert [s.id for s in found] == [footage[link.camera][i].id for i in in_window]
    assert spy.calls == [("received", "JAKI-77"),
                         ("linked", ("c-north-80-facing", "c-east-150", "c-south-250"), (water.id,)),
                         ("status", "new", "linked", "system:complaints")]

    # three days on, retention takes everything older than a day except the held windows
    env.clock.set(from_utc_us(T0 + 3 * DAY))
    await env.retention.sweep()
    kept = {name: [i for i, ok in enumerate(await env.alive(segs)) if ok] for name, segs in footage.items()}
    water_window = [i for i in range(18) if -120 + 10 * i < -10 + 0 and -110 + 10 * i > -20]  # event footage
    assert kept == {"c-north-80-facing": in_window, "c-east-150": sorted(set(in_window) | set(water_window)),
                    "c-south-250": in_window, "c-west-320": [], "c-far": []}

    # closing starts the countdown: held for hold_days_after_close (2 days) more, then retention may take it
    for status in ("in_progress", "responded", "closed"):
        complaint = await set_status(env.runtime, complaint, status, "petugas")
    env.clock.advance(timedelta(days=2) - timedelta(seconds=1))
    await env.retention.sweep()
    assert all(await env.alive([footage["c-south-250"][i] for i in in_window]))
    env.clock.advance(timedelta(seconds=2))
    await env.retention.sweep()
    assert not any(await env.alive([s for segs in footage.values() for s in segs]))
    await env.settle()
    assert [c for c in spy.calls if c[0] == "status"][1:] == [
        ("status", "linked", "in_progress", "petugas"), ("status", "in_progress", "responded", "petugas"),
        ("status", "responded", "closed", "petugas")]


async def test_a_camera_added_later_is_linked_to_open_complaints(env) -> None:
    env, spy = env
    catalog = env.runtime.catalog
    for cam in env.runtime.config.cameras:
        await catalog.upsert_camera(cam.name, kelurahan=cam.kelurahan)
    env.runtime.plugins.call_sync("startup", runtime=env.runtime)
    assert KNOWN_KEY in env.runtime.extras
    first, _ = await receive(env.runtime, flood("JAKI-1"), "jaki-bot")
    closed, _ = await receive(env.runtime, flood("JAKI-2"), "jaki-bot")
    for status in ("in_progress", "responded", "closed"):
        closed = await set_status(env.runtime, closed, status, "petugas")
    env.configure(CAMERAS + camera("c-new-40", at(east_m=-40)))
    await catalog.upsert_camera("c-new-40", kelurahan="Menteng")
    spy.calls.clear()
    env.runtime.plugins.call_sync("camera_state_changed", camera="c-new-40", old="starting", new="connecting",
                                  detail=None, runtime=env.runtime)
    await env.settle()
    assert [x.camera for x in await catalog.complaint_cameras(first.id)] == [
        "c-north-80-facing", "c-new-40", "c-east-150", "c-south-250"]  # ranks follow the new ordering
    assert "c-new-40" not in [x.camera for x in await catalog.complaint_cameras(closed.id)]  # closed: not re-linked
    assert spy.calls == [("linked", ("c-new-40",), ())]
    env.runtime.plugins.call_sync("camera_state_changed", camera="c-new-40", old="connecting", new="offline",
                                  detail=None, runtime=env.runtime)
    await env.settle()
    assert spy.calls == [("linked", ("c-new-40",), ())]  # known now: no second re-link


async def test_an_event_ending_after_intake_is_linked(env) -> None:
    env, spy = env
    catalog = env.runtime.catalog
    for cam in env.runtime.config.cameras:
        await catalog.upsert_camera(cam.name, kelurahan=cam.kelurahan)
    complaint, _ = await receive(env.runtime, flood(), "jaki-bot")
    ev = await catalog.open_event(NewEvent(camera="c-south-250", kind="object", label="flood", score=0.8,
                                           start_us=T0 + 5 * S, end_us=T0 + 15 * S))
    env.runtime.plugins.call_sync("event_ended", event=ev, runtime=env.runtime)
    await env.settle()
    assert [e.event_id for e in await catalog.complaint_events(complaint.id)] == [ev.id]
    other = await catalog.open_event(NewEvent(camera="c-south-250", kind="object", label="car", score=0.8,
                                              start_us=T0 + 5 * S, end_us=T0 + 15 * S))
    env.runtime.plugins.call_sync("event_ended", event=other, runtime=env.runtime)
    assert not env.runtime.extras.get(TASKS_KEY)  # not a kind any category links: no work at all
