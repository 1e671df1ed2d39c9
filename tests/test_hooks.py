"""One test per hook, each through the real path that calls it (see test_plugin_docs)."""

from __future__ import annotations

import asyncio
import hashlib
import types
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from nvr.clock import utc_us
from nvr.errors import ConfigError
from nvr.hookspecs import hookimpl
from nvr.segments import publish_segment
from tests.helpers import closed_port, discovery_toml, free_udp_port, wait_for


class Recorder:
    """A test plugin that implements the hooks and remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    @hookimpl
    def startup(self, runtime):
        self.calls.append(("startup", {"runtime": runtime}))

    @hookimpl
    def shutdown(self, runtime):
        self.calls.append(("shutdown", {"runtime": runtime}))

    @hookimpl
    def camera_state_changed(self, camera, old, new, detail):
        self.calls.append(("camera_state_changed", {"camera": camera, "old": old, "new": new, "detail": detail}))

    @hookimpl
    def camera_discovered(self, device):
        self.calls.append(("camera_discovered", {"device": device}))

    @hookimpl
    def segment_closed(self, camera, segment):
        self.calls.append(("segment_closed", {"camera": camera, "segment": segment}))

    def of(self, hook: str) -> list[dict]:
        return [kwargs for name, kwargs in self.calls if name == hook]


class WeatherSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    city: str = "Jakarta"
    interval_s: int = 60


async def test_hook_config_models(write_config, start_server) -> None:
    @hookimpl
    def config_models():
        return {"weather": WeatherSettings}

    plugins = [("weather", types.SimpleNamespace(config_models=config_models))]
    path = write_config('[plugins.weather]\ncity = "Bogor"\n')
    async with start_server(path, plugins=plugins) as server:
        settings = server.runtime.plugin_config("weather")
        assert isinstance(settings, WeatherSettings)
        assert settings.city == "Bogor" and settings.interval_s == 60
    bad = write_config('[plugins.weather]\ninterval_s = "soon"\ncolour = 1\n', name="bad.toml")
    with pytest.raises(ConfigError) as err:
        async with start_server(bad, plugins=plugins):
            pass
    keys = {p.key for p in err.value.problems}
    assert keys == {"plugins.weather.interval_s", "plugins.weather.colour"}


async def test_hook_startup(write_config, start_server) -> None:
    rec = Recorder()
    async with start_server(write_config(""), plugins=[("rec", rec)]) as server:
        assert rec.names() == ["startup"]
        assert rec.of("startup")[0]["runtime"] is server.runtime
        assert server.runtime.catalog is not None


async def test_hook_shutdown(write_config, start_server) -> None:
    rec = Recorder()
    async with start_server(write_config(""), plugins=[("rec", rec)]):
        assert rec.names() == ["startup"]
    assert rec.names() == ["startup", "shutdown"]


async def test_hook_camera_state_changed(write_config, start_server) -> None:
    rec = Recorder()
    port = closed_port()
    path = write_config(f'''
        [[cameras]]
        name = "gate"
        stream = {{ main = "rtsp://127.0.0.1:{port}/main" }}
        [[cameras]]
        name = "off"
        enabled = false
        stream = {{ main = "rtsp://127.0.0.1:{port}/main" }}
    ''')
    plugins = [("rec", rec)]
    async with start_server(path, plugins=plugins) as server:
        await wait_for(lambda: any(c["new"] == "offline" for c in rec.of("camera_state_changed")))
        changes = {(c["camera"], c["old"], c["new"]) for c in rec.of("camera_state_changed")}
        assert ("gate", "starting", "connecting") in changes  # the recorder takes over
        assert ("gate", "connecting", "offline") in changes
        assert ("off", "starting", "disabled") in changes
        gate = next(c for c in rec.of("camera_state_changed") if c["new"] == "offline")
        assert "refused" in gate["detail"].lower()
        assert server.runtime.cameras.status("gate").state == "offline"


async def test_hook_segment_closed(write_config, start_server) -> None:
    rec = Recorder()
    path = write_config('[[cameras]]\nname = "gate"\nstream = { main = "rtsp://127.0.0.1:9/x" }\n')
    async with start_server(path, plugins=[("rec", rec)]) as server:
        runtime = server.runtime
        data = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 64
        rel = "gate/2026-11-22/16/000000.mp4"
        (runtime.config.storage.root / rel).parent.mkdir(parents=True)
        (runtime.config.storage.root / rel).write_bytes(data)
        run = await runtime.catalog.start_run("gate", 1_700_000_000_000_000)
        segment = await publish_segment(
            runtime, "gate", run_id=run.id, relpath=rel, start_time=1_700_000_000_000_000,
            end_time=1_700_000_060_000_000, media_duration=60 * 90_000, frames=1500, keyframes=30, codec="h264",
            width=1280, height=720)
        await wait_for(lambda: rec.of("segment_closed"))
        call = rec.of("segment_closed")[0]
        assert call["camera"] == "gate"
        assert call["segment"] == segment
        assert segment.size_bytes == len(data)
        assert segment.sha256 == hashlib.sha256(data).hexdigest()
        stored = await runtime.catalog.segments("gate", 0, utc_us_now())
        assert [s.id for s in stored] == [segment.id]


async def test_hook_camera_discovered(write_config, start_server) -> None:
    from nvr.sim.fleet import SimFleet

    rec = Recorder()
    async with SimFleet(3, discovery_port=free_udp_port(), password="sim-pass") as fleet:
        known = fleet.cameras[0]
        path = write_config(discovery_toml(fleet.discovery.port, "sim-pass") + f'''
            [[cameras]]
            name = "known"
            onvif = {{ host = "127.0.0.1", port = {known.onvif_port}, username = "admin", password = "sim-pass" }}
        ''')
        async with start_server(path, plugins=[("rec", rec)]) as server:
            await wait_for(lambda: len(rec.of("camera_discovered")) >= 2, timeout=20)
            await server.runtime.discovery.sweep()  # a second sweep reports nothing new
            await server.plugins.drain()
            devices = [c["device"] for c in rec.of("camera_discovered")]
            assert sorted(d.name for d in devices) == ["cam02", "cam03"]
            assert all(d.state == "ok" and d.main_uri == fleet.camera(d.name).rtsp_main for d in devices)
            assert len(server.runtime.discovery.devices) == 3


def utc_us_now() -> int:
    from datetime import datetime, timezone
    return utc_us(datetime.now(timezone.utc))
