"""Which configured cameras a request's user may see, and the 404 for the rest."""

from __future__ import annotations

from aiohttp import web

from nvr.config import CameraConfig
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import allowed, decide_many

_CACHE = web.RequestKey("nvr.visible", dict)
"""Action -> the cameras the user may act on, worked out once per request."""


def cameras_for(request: web.Request, action: str = "camera.view") -> list[CameraConfig]:
    """Configured cameras the user may see and do ``action`` on, in config order (cached for the request)."""
    cache: dict[str, list[CameraConfig]] = request.get(_CACHE) or {}
    request[_CACHE] = cache
    if action not in cache:
        runtime, user = request.app[RUNTIME_KEY], request[USER_KEY]
        seen = cache.get("camera.view")
        if seen is None:
            seen = cache["camera.view"] = decide_many(runtime, user, "camera.view", runtime.config.cameras)
        cache[action] = seen if action == "camera.view" else decide_many(runtime, user, action, seen)
    return cache[action]


def visible_cameras(request: web.Request) -> list[CameraConfig]:
    """Configured cameras in the user's scope, in config order."""
    return cameras_for(request, "camera.view")


def scoped_camera(request: web.Request, name: str | None = None) -> CameraConfig:
    """The camera named in the URL, or 404 when it does not exist *for this user* (no hint that it exists)."""
    name = name if name is not None else request.match_info["name"]
    camera = request.app[RUNTIME_KEY].config.camera(name)
    if camera is None or not allowed(request, "camera.view", camera):
        raise web.HTTPNotFound(text=f"no camera named {name!r}")
    return camera
