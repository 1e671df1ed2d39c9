"""Camera list page and its JSON twin, scoped to the user's kelurahan."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nvr.adoption import suggested_name
from nvr.camera_worker import CameraStatus
from nvr.web import query_params as qp
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import allowed, require
from nvr.web.routes.camera_filter import CameraFilter
from nvr.web.routes.devices import devices
from nvr.web.routes.scope import scoped_camera, visible_cameras
from nvr.web.templating import render

STATE_CLASS = {"online": "ok", "recording": "ok", "starting": "wait", "connecting": "wait",
               "elsewhere": "ok",  # a cluster node: another node records it (nvr.nodes)
               "disabled": "off", "removed": "off", "stopped": "off"}


def _global_admin(request: web.Request) -> bool:
    return allowed(request, "admin") and request[USER_KEY].kelurahan is None


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
    analysis = {cam.name: _analysis(request, cam.name) for cam in cameras}
    exports = runtime.extras.get("exports")
    key = getattr(exports, "key", None)
    return render(request, "cameras.html", cameras=cameras, counts=counts, state_class=STATE_CLASS, analysis=analysis,
                  export_fingerprint=key.fingerprint if key is not None else None,
                  plugins=plugins, discovered=devices(runtime), can_adopt=_global_admin(request),
                  suggest=lambda d: suggested_name(runtime, d),
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


async def camera_retry_json(request: web.Request) -> web.StreamResponse:
    """POST /api/cameras/{name}/retry: the same for machines and scripts -> 202 and the camera's state now."""
    runtime = request.app[RUNTIME_KEY]
    camera = scoped_camera(request)
    require(request, "camera.retry", camera)
    worker = runtime.cameras.worker(camera.name) if runtime.cameras else None
    if worker is None:
        raise web.HTTPNotFound(text=f"no camera named {camera.name!r}")
    worker.poke()
    return web.json_response({"name": camera.name, "state": worker.status.state, "retrying": True}, status=202)


async def camera_list_json(request: web.Request) -> web.StreamResponse:
    """GET /api/cameras?q=&tag=&kecamatan=&kelurahan=&state=&limit=&offset=: a page of the cameras the user may see.

    Filters as on the dashboard; ``total`` counts every match, ``next`` is the following page's URL.
    """
    runtime = request.app[RUNTIME_KEY]
    page = qp.page(request, 100, 500)
    wanted = CameraFilter.of(request)
    workers = runtime.cameras

    def state_of(name: str) -> str:
        status = workers.status(name) if workers else None
        return status.state if status else "disabled"

    shown = wanted.apply(visible_cameras(request), state_of)
    rows = []
    for cam in page.cut(shown):
        status = workers.status(cam.name) if workers else None
        if status is not None:
            rows.append(_as_json(status, _analysis(request, cam.name)))
    return web.json_response({"cameras": rows, **qp.page_json(request, page, len(shown))})


def setup(app: web.Application) -> None:
    app.router.add_get("/cameras", camera_list)
    app.router.add_get("/api/cameras", camera_list_json)
    app.router.add_post("/cameras/{name}/retry", camera_retry)
    app.router.add_post("/api/cameras/{name}/retry", camera_retry_json)
