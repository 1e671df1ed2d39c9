"""Camera list page and its JSON twin, scoped to the user's kelurahan."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nvr.camera_worker import CameraStatus
from nvr.web.keys import RUNTIME_KEY
from nvr.web.permissions import require
from nvr.web.routes.scope import visible_cameras
from nvr.web.templating import render

STATE_CLASS = {"online": "ok", "recording": "ok", "starting": "wait", "connecting": "wait",
               "disabled": "off", "removed": "off", "stopped": "off"}


def _visible(request: web.Request) -> list[CameraStatus]:
    runtime = request.app[RUNTIME_KEY]
    statuses = runtime.cameras.statuses() if runtime.cameras else []
    visible = {c.name for c in visible_cameras(request)}
    return [s for s in statuses if s.name in visible]


def _analysis(request: web.Request, name: str) -> dict[str, Any] | None:
    service = request.app[RUNTIME_KEY].analysis
    pipeline = service.cameras.get(name) if service is not None else None
    return pipeline.status() if pipeline is not None else None


def _as_json(status: CameraStatus, analysis: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "name": status.name,
        "title": status.title,
        "state": status.state,
        "detail": status.detail,
        "since": status.since.isoformat(),
        "kelurahan": status.kelurahan,
        "kecamatan": status.kecamatan,
        "codecs": list(status.codecs),
        "recording": status.recording,
        "stats": _stats_json(status),
        "analysis": analysis,
    }


def _stats_json(status: CameraStatus) -> dict[str, Any] | None:
    stats = status.stats
    if stats is None:
        return None
    return {"frames": stats.frames, "bytes": stats.bytes, "bitrate_bps": stats.bitrate_bps, "fps": stats.fps,
            "last_packet_at": stats.last_packet_at, "segments": stats.segments, "reconnects": stats.reconnects}


async def camera_list(request: web.Request) -> web.StreamResponse:
    """GET /cameras: every camera the user may see, with its state, as a table (admins also see devices, plugins)."""
    runtime = request.app[RUNTIME_KEY]
    cameras = _visible(request)
    counts: dict[str, int] = {}
    for cam in cameras:
        counts[cam.state] = counts.get(cam.state, 0) + 1
    plugins = sorted(runtime.plugins.status.values(), key=lambda p: p.name)
    discovery = runtime.discovery
    configured = {f"{c.onvif.host}:{c.onvif.port}" for c in runtime.config.cameras if c.onvif}
    discovered = [
        (d, f"{d.host}:{d.port}" in configured)
        for d in (discovery.devices.values() if discovery else [])
    ]
    analysis = {cam.name: _analysis(request, cam.name) for cam in cameras}
    exports = runtime.extras.get("exports")
    key = getattr(exports, "key", None)
    return render(request, "cameras.html", cameras=cameras, counts=counts, state_class=STATE_CLASS, analysis=analysis,
                  export_fingerprint=key.fingerprint if key is not None else None,
                  plugins=plugins, discovered=discovered,
                  discovery_error=discovery.last_error if discovery else None)


async def camera_retry(request: web.Request) -> web.StreamResponse:
    """POST /cameras/{name}/retry: check the camera now instead of waiting for the backoff."""
    runtime = request.app[RUNTIME_KEY]
    name = request.match_info["name"]
    worker = runtime.cameras.worker(name) if runtime.cameras else None
    if worker is None:
        raise web.HTTPNotFound(text=f"no camera named {name!r}")
    require(request, "camera.retry", worker.config)
    worker.poke()
    raise web.HTTPSeeOther("/cameras")


async def camera_list_json(request: web.Request) -> web.StreamResponse:
    """GET /api/cameras: the same list as JSON."""
    return web.json_response({"cameras": [_as_json(s, _analysis(request, s.name)) for s in _visible(request)]})


def setup(app: web.Application) -> None:
    app.router.add_get("/cameras", camera_list)
    app.router.add_get("/api/cameras", camera_list_json)
    app.router.add_post("/cameras/{name}/retry", camera_retry)
