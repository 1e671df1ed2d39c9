"""One test per hook, each through the real path that calls it (see test_plugin_docs)."""

from __future__ import annotations

import asyncio
import hashlib
import types

import pytest
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from nvr.clock import utc_us
from nvr.errors import ConfigError, PluginError
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

    @hookimpl
    def frame_detections(self, camera, time_us, detections, frame):
        self.calls.append(("frame_detections", {"camera": camera, "time_us": time_us, "detections": detections,
                                                "frame": frame}))

    @hookimpl
    def event_started(self, event):
        self.calls.append(("event_started", {"event": event}))

    @hookimpl
    def event_updated(self, event):
        self.calls.append(("event_updated", {"event": event}))

    @hookimpl
    def event_ended(self, event):
        self.calls.append(("event_ended", {"event": event}))

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


async def test_hook_config_reloaded(write_config, start_server) -> None:
    """Called after an accepted reload (the new plugin config in place), never after a rejected one; a reload
    validates plugin tables with {"reload": True} in the validation context."""
    contexts: list[object] = []

    class Settings(WeatherSettings):
        @field_validator("city")
        @classmethod
        def _seen(cls, value: str, info: ValidationInfo) -> str:
            contexts.append((info.context or {}).get("reload"))
            return value

    rec = Recorder()
    seen: list[str] = []

    @hookimpl
    def config_models():
        return {"weather": Settings}

    @hookimpl
    async def config_reloaded(runtime):
        seen.append(runtime.plugin_config("weather").city)

    plugins = [("rec", rec), ("weather", types.SimpleNamespace(config_models=config_models,
                                                                config_reloaded=config_reloaded))]
    path = write_config('[plugins.weather]\ncity = "Bogor"\n')
    async with start_server(path, plugins=plugins) as server:
        assert seen == [] and contexts == [False]
        path.write_text(path.read_text().replace("Bogor", "Depok"))
        await server.reload()
        assert seen == ["Depok"] and contexts == [False, True]
        path.write_text(path.read_text().replace('city = "Depok"', "city = 3"))
        assert isinstance(await server.reload(), ConfigError)
        assert seen == ["Depok"] and server.runtime.plugin_config("weather").city == "Depok"
        assert rec.names() == ["startup"]


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


# --- analysis hooks: a real simulated camera showing a real photo, a real (colour) detector -----------------


ORANGE = '[analysis]\ndetector = "orange"\n'


async def test_hook_register_detectors(write_config, start_server) -> None:
    from tests.analysis_helpers import OrangePlugin, camera_toml, scene_server

    orange = OrangePlugin()
    async with scene_server("people-1") as sim:
        path = write_config(ORANGE + camera_toml(sim, detect='objects = ["orange"]'))
        async with start_server(path, plugins=[("orange", orange)]) as server:
            assert server.runtime.analysis.detector is orange.detector
            await wait_for(lambda: orange.detector.calls >= 2, timeout=20)
        bad = write_config('[analysis]\ndetector = "nope"\n' + camera_toml(sim), name="bad.toml")
        with pytest.raises(PluginError, match="no installed plugin offers it .known: .*orange"):
            async with start_server(bad, plugins=[("orange", OrangePlugin())]):
                pass


async def test_hook_frame_detections(write_config, start_server) -> None:
    from tests.analysis_helpers import OrangePlugin, camera_toml, scene_server

    rec = Recorder()
    async with scene_server("people-1") as sim:
        path = write_config(ORANGE + camera_toml(sim, detect='objects = ["orange"]'))
        async with start_server(path, plugins=[("orange", OrangePlugin()), ("rec", rec)]):
            await wait_for(lambda: any(c["detections"] for c in rec.of("frame_detections")), timeout=20)
    call = next(c for c in rec.of("frame_detections") if c["detections"])
    assert call["camera"] == "cam" and abs(call["time_us"] - utc_us_now()) < 60_000_000
    (det,) = call["detections"]
    assert det.label == "orange" and 0.3 < det.box[0] < det.box[2] < 0.7  # the middle of the frame
    frame = call["frame"]
    assert frame.camera == "cam" and frame.time_us == call["time_us"] and frame.rgb.shape == (360, 640, 3)
    (track,) = frame.tracks
    assert track.label == "orange" and track.box == det.box and track.track_id > 0


async def _event_run(write_config, start_server, seconds: float) -> Recorder:
    from tests.analysis_helpers import OrangePlugin, camera_toml, scene_server

    rec = Recorder()
    async with scene_server("people-1") as sim:
        path = write_config(ORANGE + camera_toml(sim, detect='objects = ["orange"]'))
        async with start_server(path, plugins=[("orange", OrangePlugin()), ("rec", rec)]) as server:
            await wait_for(lambda: rec.of("event_started"), timeout=20)
            await asyncio.sleep(seconds)
            event = rec.of("event_started")[0]["event"]
            rec.snapshot = await server.runtime.catalog.event_snapshot(event.id)
            catalog_url = server.runtime.config.catalog_url
    from nvr.storage.catalog import open_catalog

    async with await open_catalog(catalog_url) as catalog:  # what the stopped server left behind
        rec.stored = await catalog.get_event(event.id)
    return rec


async def test_hook_event_started(write_config, start_server) -> None:
    import io

    from PIL import Image

    rec = await _event_run(write_config, start_server, 0)
    (call,) = rec.of("event_started")
    event = call["event"]
    assert (event.camera, event.kind, event.label, event.ongoing, event.has_snapshot) == (
        "cam", "object", "orange", True, True)
    assert event.id > 0 and event.box is not None and event.pre_roll_us == 5_000_000
    assert Image.open(io.BytesIO(rec.snapshot)).size == (640, 360)


async def test_hook_event_updated(write_config, start_server) -> None:
    rec = await _event_run(write_config, start_server, 6.5)  # the end time is written every 5 s
    updates = [c["event"] for c in rec.of("event_updated")]
    started = rec.of("event_started")[0]["event"]
    assert updates and all(u.id == started.id for u in updates)
    assert updates[-1].end_us >= started.end_us + 4_000_000 and updates[-1].ongoing


async def test_hook_event_ended(write_config, start_server) -> None:
    rec = await _event_run(write_config, start_server, 0)  # stopping the server ends open events
    (ended,) = [c["event"] for c in rec.of("event_ended")]
    assert ended.id == rec.of("event_started")[0]["event"].id and not ended.ongoing
    assert not rec.stored.ongoing and rec.stored.end_us == ended.end_us


# --- web hooks ------------------------------------------------------------------------------------------------

WEB_CAMERAS = """
[[cameras]]
name = "menteng1"
kelurahan = "Menteng"
enabled = false
stream = { main = "rtsp://127.0.0.1:9/a" }
"""


class WebPlugin:
    """Adds a page, a nav item, fragments, and lets the "guards" user (a viewer) retry cameras."""

    @hookimpl
    def web_routes(self, runtime):
        from aiohttp import web

        from nvr.web.permissions import require
        from nvr.web.templating import render

        async def weather(request):
            require(request, "weather.view")
            return render(request, "base.html")

        return [web.get("/weather", weather)]

    @hookimpl
    def web_nav(self, user):
        from nvr.web.nav import NavItem

        return [NavItem("Weather", "/weather", 15)] if user.role == "admin" else []

    @hookimpl
    def web_fragment(self, slot, context):
        from markupsafe import escape

        name = context.camera if slot == "event" else context.name
        return f'<p class="weather" data-slot="{slot}">rain near {escape(name)} <script>'

    @hookimpl
    def permission(self, user, action, camera):
        if action == "weather.view":
            return user.role == "admin"
        if user.username == "guards" and action == "camera.retry":
            return True
        if user.username == "guards" and action == "event.ack":
            return False
        return None


async def _web_server(write_config, start_server):
    return start_server(write_config(WEB_CAMERAS), plugins=[("weather", WebPlugin())])


async def test_hook_web_routes(write_config, start_server) -> None:
    from nvr.users import create_user
    from tests.conftest import ADMIN_PASSWORD
    from tests.web.test_auth import client, login

    async with await _web_server(write_config, start_server) as server:
        await create_user(server.runtime.catalog, "viewer", "viewer-password", "viewer")
        async with client() as s:
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            async with s.get(server.url + "weather") as resp:
                assert resp.status == 200
        async with client() as s:
            await login(s, server.url, "viewer", "viewer-password")
            async with s.get(server.url + "weather") as resp:
                assert resp.status == 403
        async with client() as s:
            async with s.get(server.url + "weather", allow_redirects=False) as resp:
                assert resp.status == 303  # behind the login like every page


async def test_hook_web_nav(write_config, start_server) -> None:
    from nvr.users import create_user
    from tests.conftest import ADMIN_PASSWORD
    from tests.web.test_auth import client, login

    async with await _web_server(write_config, start_server) as server:
        await create_user(server.runtime.catalog, "viewer", "viewer-password", "viewer")
        async with client() as s:
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            async with s.get(server.url + "events") as resp:
                html = await resp.text()
        nav = html[html.index("<nav>"):html.index("</nav>")]
        assert [m for m in ("Dashboard", "Weather", "Cameras", "Events", "Exports") if m in nav] == [
            "Dashboard", "Weather", "Cameras", "Events", "Exports"]
        assert nav.index("Weather") < nav.index("Cameras")  # order 15 sits between the core's 10 and 20
        async with client() as s:
            await login(s, server.url, "viewer", "viewer-password")
            async with s.get(server.url + "events") as resp:
                html = await resp.text()
        nav = html[html.index("<nav>"):html.index("</nav>")]
        assert "Weather" not in nav and "Exports" not in nav and "Events" in nav


async def test_hook_web_fragment(write_config, start_server) -> None:
    from nvr.storage.events_catalog import NewEvent
    from tests.conftest import ADMIN_PASSWORD
    from tests.web.test_auth import client, login

    async with await _web_server(write_config, start_server) as server:
        await server.runtime.catalog.upsert_camera("menteng1")
        ev = await server.runtime.catalog.open_event(NewEvent(camera="menteng1", kind="object", label="person",
                                                              score=0.9, start_us=10, end_us=20))
        async with client() as s:
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            async with s.get(server.url + "cameras/menteng1") as resp:
                camera_html = await resp.text()
            async with s.get(server.url + f"events/{ev.id}") as resp:
                event_html = await resp.text()
    assert '<p class="weather" data-slot="camera">rain near menteng1' in camera_html
    assert '<p class="weather" data-slot="event">rain near menteng1' in event_html


async def test_hook_permission(write_config, start_server) -> None:
    from nvr.storage.events_catalog import NewEvent
    from nvr.users import create_user
    from tests.web.test_auth import client, csrf_of, login

    async with await _web_server(write_config, start_server) as server:
        catalog = server.runtime.catalog
        await catalog.upsert_camera("menteng1")
        ev = await catalog.open_event(NewEvent(camera="menteng1", kind="object", label="person", score=0.9,
                                               start_us=10, end_us=20))
        await create_user(catalog, "guards", "guards-password", "viewer")  # granted retry by the plugin
        await create_user(catalog, "op", "op-password", "operator")
        async with client() as s:
            await login(s, server.url, "guards", "guards-password")
            async with s.get(server.url + "cameras") as resp:
                token = csrf_of(await resp.text())
            async with s.post(server.url + "cameras/menteng1/retry", data={"csrf_token": token},
                              allow_redirects=False) as resp:
                assert resp.status == 303  # a viewer, yet allowed: the plugin said True
        await create_user(catalog, "guards2", "guards-password", "operator")
        async with client() as s:
            await login(s, server.url, "op", "op-password")
            async with s.get(server.url + "events") as resp:
                token = csrf_of(await resp.text())
            async with s.post(server.url + f"api/events/{ev.id}/ack", json={}, headers={"X-CSRF-Token": token}) as resp:
                assert resp.status == 200  # the default: operators acknowledge
        from nvr.web.permissions import decide

        guards = await catalog.get_user("guards")
        assert decide(server.runtime, guards, "event.ack") is False  # the plugin's False beats everything
        assert decide(server.runtime, guards, "camera.view") is True  # no opinion: the default
