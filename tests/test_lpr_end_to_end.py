"""Plate reading end to end: a simulated camera shows cars with known plates; real OCR, a real server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import av
import pytest
from PIL import Image

from nvr.hookspecs import hookimpl
from nvr.sim.clip import ClipSpec
from nvr.sim.plate_scene import PLATE_SCENE_PLATES
from nvr.sim.rtsp import RtspServer
from nvr.storage.events_catalog import EventFilter
from nvr.storage.plates_catalog import PlateQuery, PlateSighting
from tests.conftest import ADMIN_PASSWORD
from tests.web.test_auth import client, login

pytestmark = pytest.mark.slow

LOOP_S = 12.0
"""One loop of the scene: each of the three cars crosses in 4 s."""
WATCHED = "D 8051 SO"


@contextlib.asynccontextmanager
async def plate_camera(scene: str = "plates", duration: float = LOOP_S) -> AsyncIterator[RtspServer]:
    spec = ClipSpec(fps=5, duration=duration, gop_seconds=1.0, scene=scene)
    server = RtspServer(host="127.0.0.1", port=0, clip_spec=spec)
    await server.start()
    server.add_camera("cam")
    try:
        yield server
    finally:
        await server.stop()


def lpr_toml(sim: RtspServer, lpr: str = "", record: str = "enabled = false") -> str:
    return f'''
[[cameras]]
name = "cam"
record = {{ {record} }}
stream = {{ main = "{sim.url("cam", "main")}", sub = "{sim.url("cam", "sub")}" }}
[cameras.detect]
enabled = true
fps = 2
[plugins.lpr]
cameras = ["cam"]
end_after_s = 1.0
{lpr}
'''


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        await asyncio.sleep(0.5)


async def sightings_of(server) -> list[PlateSighting]:
    return await server.runtime.catalog.search_plates(PlateQuery("", mode="prefix", limit=1000))


class EventLog:
    """A plugin that records the event hooks it receives."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str]] = []

    @hookimpl
    def event_started(self, event) -> None:
        self.calls.append(("started", event.id, event.kind))

    @hookimpl
    def event_ended(self, event) -> None:
        self.calls.append(("ended", event.id, event.kind))


async def test_a_camera_showing_known_plates_yields_exactly_those_sightings(write_config, start_server):
    async with plate_camera() as sim, start_server(write_config(lpr_toml(sim))) as server:
        async def all_seen() -> bool:
            return {s.plate for s in await sightings_of(server)} >= set(PLATE_SCENE_PLATES)

        await until(all_seen, timeout=120)
        found = await sightings_of(server)
        crop = await server.runtime.catalog.plate_crop(found[0].id)
    assert {s.plate for s in found} == set(PLATE_SCENE_PLATES), [s.plate for s in found]  # no clock, no sign
    for s in found:
        assert s.camera == "cam" and s.has_crop and s.reads >= 1 and s.confidence >= 0.5
        assert s.footage_start_us < s.first_us <= s.best_us <= s.last_us < s.footage_end_us
        assert s.alert_event_id is None  # nothing is watched
    image = Image.open(io.BytesIO(crop))
    assert image.format == "JPEG" and image.width > image.height


async def test_the_street_scene_yields_its_one_plate(write_config, start_server):
    """People walking, cars driving by side-on, a clock: only the car seen from behind has a readable plate."""
    async with plate_camera("street", 8.0) as sim, start_server(write_config(lpr_toml(sim))) as server:
        async def seen() -> bool:
            return bool(await sightings_of(server))

        await until(seen, timeout=90)
        await asyncio.sleep(3.0)  # a little more of the loop: still nothing else
        found = await sightings_of(server)
    assert {s.plate for s in found} == {"B 1234 XYZ"}


def clip_seconds(mp4: bytes) -> float:
    """Span of the video packets' timestamps in an MP4."""
    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        pts = [p.pts for p in container.demux(stream) if p.pts is not None]
    return float((max(pts) - min(pts)) * stream.time_base) if pts else 0.0


def passes(sightings: list[PlateSighting], gap_s: float = LOOP_S / 2) -> list[list[PlateSighting]]:
    """Sightings of one car grouped into its passes (a pass every loop)."""
    out: list[list[PlateSighting]] = []
    for s in sorted(sightings, key=lambda s: s.first_us):
        if out and s.first_us - out[-1][-1].last_us < gap_s * 1_000_000:
            out[-1].append(s)
        else:
            out.append([s])
    return out


async def test_a_watchlisted_plate_raises_exactly_one_alert_per_pass(write_config, start_server):
    watch = f'''alert_cooldown_s = 5
[[plugins.lpr.watchlist]]
plate = "{WATCHED.lower().replace(" ", "")}"
reason = "stolen car, report LP/B/123/2026"
owner = "Polda Metro Jaya"
severity = "critical"
'''
    log = EventLog()
    async with plate_camera() as sim, start_server(write_config(lpr_toml(sim, watch, "segment_seconds = 10")),
                                                   plugins=[("event-log", log)]) as server:
        catalog = server.runtime.catalog

        async def two_passes() -> bool:
            mine = [s for s in await sightings_of(server) if s.plate == WATCHED]
            return len(passes(mine)) >= 2 and all(s.alert_event_id for s in mine)

        await until(two_passes, timeout=150)
        await server.runtime.plugins.drain()
        sightings = await sightings_of(server)
        alerts = await catalog.list_events(EventFilter(kind="plate_alert"))
        snapshot = await catalog.event_snapshot(alerts[0].id)
        first = min((s for s in sightings if s.plate == WATCHED), key=lambda s: s.first_us)

        async def wanted_s() -> float:  # its footage that was recorded (the pre-roll may predate the server)
            recorded = await catalog.segments("cam", first.footage_start_us, first.footage_end_us)
            start = max(first.footage_start_us, min((r.start_time for r in recorded), default=first.footage_end_us))
            return (first.footage_end_us - start) / 1e6 - 1.5  # a GOP at each end
        async with client() as http:
            await login(http, server.url, "admin", ADMIN_PASSWORD)
            async with http.get(f"{server.url}api/plates/{first.id}") as resp:
                shown = await resp.json()
            crop = await (await http.get(server.url + shown["crop"].lstrip("/"))).read()
            clip: list[bytes] = []

            async def recorded() -> bool:  # the recording link gives all of it once it is in closed segments
                async with http.get(server.url + shown["recording"]["download"].lstrip("/")) as resp:
                    clip[:] = [await resp.read()] if resp.status == 200 else []
                return bool(clip) and clip_seconds(clip[0]) >= await wanted_s() > 5

            await until(recorded, timeout=60)
    watched = [s for s in sightings if s.plate == WATCHED]
    others = [s for s in sightings if s.plate != WATCHED]
    assert others and all(s.alert_event_id is None for s in others)
    groups = passes(watched)
    assert len(alerts) == len(groups), (alerts, watched)  # exactly one alert per pass
    for group in groups:
        assert len({s.alert_event_id for s in group}) == 1
    by_id = {e.id: e for e in alerts}
    for s in watched:
        event = by_id[s.alert_event_id]
        assert (event.camera, event.label, event.severity, event.agency) == ("cam", WATCHED, "critical",
                                                                             "Polda Metro Jaya")
        assert "LP/B/123/2026" in (event.rule or "") and event.has_snapshot and not event.ongoing
        start, end = event.footage  # the recording link: the alert's footage covers the sighting
        assert start <= s.first_us and s.last_us <= end
        assert s.watch_plate == WATCHED
    assert Image.open(io.BytesIO(snapshot)).format == "JPEG"  # the crop
    assert shown["alert"]["event_id"] == first.alert_event_id and shown["alert"]["watch_plate"] == WATCHED
    assert Image.open(io.BytesIO(crop)).format == "JPEG"
    assert (shown["recording"]["start_us"], shown["recording"]["end_us"]) == (first.footage_start_us,
                                                                              first.footage_end_us)
    alert_ids = set(by_id)
    assert {(h, i) for h, i, k in log.calls if k == "plate_alert"} == {(h, i) for i in alert_ids
                                                                       for h in ("started", "ended")}


async def test_models_load_in_the_background_and_a_broken_one_shows_in_the_plugin_health(
        write_config, start_server, tmp_path):
    """Start-up does not wait for the OCR models (compiling them can outlast the start-up hook's limit on a
    busy machine); a model that cannot load is logged and shown as the plugin's error, and nvr runs on."""
    broken = tmp_path / "broken_det.onnx"
    broken.write_bytes(b"not an onnx model")
    async with plate_camera() as sim, start_server(write_config(lpr_toml(sim, f'det_model = "{broken}"'))) as server:
        status = server.runtime.plugins.status["lpr"]
        await until(lambda: _true(status.errors > 0), 60)
        assert status.last_error_hook == "startup" and "broken_det.onnx" in (status.last_error or "")
        async with client() as http, http.get(server.url + "healthz") as resp:
            assert resp.status == 200


async def _true(value: bool) -> bool:
    return value
