"""Camera list page and its JSON twin, scoped to the user's kelurahan."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nvr.camera_worker import CameraStatus
from nvr.web.auth import in_scope
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.templating import render

STATE_CLASS = {"online": "ok", "starting": "wait", "disabled": "off", "removed": "off"}


def _visible(request: web.Request) -> list[CameraStatus]:
    runtime = request.app[RUNTIME_KEY]
    statuses = runtime.cameras.statuses() if runtime.cameras else []
    return [s for s in statuses if in_scope(request[USER_KEY], s.kelurahan)]


def _as_json(status: CameraStatus) -> dict[str, Any]:
    return {
        "name": status.name,
        "title": status.title,
        "state": status.state,
        "detail": status.detail,
        "since": status.since.isoformat(),
        "kelurahan": status.kelurahan,
        "kecamatan": status.kecamatan,
        "codecs": list(status.codecs),
    }


async def camera_list(request: web.Request) -> web.StreamResponse:
    """GET /: every camera the user may see, with its state."""
    runtime = request.app[RUNTIME_KEY]
    cameras = _visible(request)
    counts: dict[str, int] = {}
    for cam in cameras:
        counts[cam.state] = counts.get(cam.state, 0) + 1
    plugins = sorted(runtime.plugins.status.values(), key=lambda p: p.name)
    return render(request, "cameras.html", cameras=cameras, counts=counts, state_class=STATE_CLASS,
                  plugins=plugins)


async def camera_list_json(request: web.Request) -> web.StreamResponse:
    """GET /api/cameras: the same list as JSON."""
    return web.json_response({"cameras": [_as_json(s) for s in _visible(request)]})


def setup(app: web.Application) -> None:
    app.router.add_get("/", camera_list)
    app.router.add_get("/api/cameras", camera_list_json)
