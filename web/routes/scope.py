"""Which configured cameras a request's user may see, and the 404 for the rest."""

from __future__ import annotations

from aiohttp import web

from nvr.config import CameraConfig
from nvr.web.keys import RUNTIME_KEY
from nvr.web.permissions import allowed


def visible_cameras(request: web.Request) -> list[CameraConfig]:
    """Configured cameras in the user's scope, in config order."""
    return [c for c in request.app[RUNTIME_KEY].config.cameras if allowed(request, "camera.view", c)]


def scoped_camera(request: web.Request, name: str | None = None) -> CameraConfig:
    """The camera named in the URL, or 404 when it does not exist *for this user* (no hint that it exists)."""
    name = name if name is not None else request.match_info["name"]
    camera = request.app[RUNTIME_KEY].config.camera(name)
    if camera is None or not allowed(request, "camera.view", camera):
        raise web.HTTPNotFound(text=f"no camera named {name!r}")
    return camera
