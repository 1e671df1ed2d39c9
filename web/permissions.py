"""Who may do what: role ranks and kelurahan scope by default, extended by plugins' ``permission`` hook."""

from __future__ import annotations

from aiohttp import web

from nvr.config import CameraConfig
from nvr.models import User
from nvr.runtime import Runtime
from nvr.web.keys import RUNTIME_KEY, USER_KEY

ROLE_RANK = {"viewer": 0, "operator": 1, "investigator": 2, "admin": 3}
"""Core roles, least to most trusted; ``investigator`` handles evidence (exports, downloads)."""
MIN_ROLE = {
    "camera.view": "viewer",
    "event.view": "viewer",
    "camera.retry": "operator",
    "event.ack": "operator",
    "footage.download": "investigator",
    "footage.export": "investigator",
    "admin": "admin",
}
"""The least role each core action needs; unknown actions need ``admin`` unless a plugin allows them."""


def in_scope(user: User, kelurahan: str | None) -> bool:
    """A user bound to a kelurahan sees only that kelurahan's cameras."""
    return user.kelurahan is None or user.kelurahan == kelurahan


def default_allowed(user: User, action: str, camera: CameraConfig | None) -> bool:
    """nvr's own rule: the role ranks at least the action's minimum, and the camera is in the user's scope."""
    if ROLE_RANK.get(user.role, -1) < ROLE_RANK[MIN_ROLE.get(action, "admin")]:
        return False
    return camera is None or in_scope(user, camera.kelurahan)


def decide(runtime: Runtime, user: User, action: str, camera: CameraConfig | None = None) -> bool:
    """Plugins first (any False forbids, else any True allows), then the default."""
    if runtime.plugins.implements("permission"):
        votes = [v for _, v in runtime.plugins.call_sync("permission", user=user, action=action, camera=camera,
                                                          runtime=runtime) if v is not None]
        if False in votes:
            return False
        if True in votes:
            return True
    return default_allowed(user, action, camera)


def allowed(request: web.Request, action: str, camera: CameraConfig | None = None) -> bool:
    """``decide`` for the request's user."""
    return decide(request.app[RUNTIME_KEY], request[USER_KEY], action, camera)


def require(request: web.Request, action: str, camera: CameraConfig | None = None) -> None:
    """Raise 403 unless ``allowed``; for a camera outside the user's view, 404 (its existence is not revealed)."""
    if camera is not None and not allowed(request, "camera.view", camera):
        raise web.HTTPNotFound(text=f"no camera named {camera.name!r}")
    if not allowed(request, action, camera):
        raise web.HTTPForbidden(text=f"not allowed: {action}")
