"""Who may do what: role ranks and kelurahan scope by default, extended by plugins' ``permission`` hook."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from aiohttp import web

from nvr.config import CameraConfig
from nvr.models import User
from nvr.runtime import Runtime
from nvr.web.keys import RUNTIME_KEY, USER_KEY

ROLE_RANK = {"viewer": 0, "kelurahan_viewer": 0, "operator": 1, "duty_officer": 1, "investigator": 2, "admin": 3}
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


KECAMATAN_SCOPE = "kecamatan:"
"""A user scope ``kecamatan:<name>`` covers every camera of that kecamatan (any other scope names a kelurahan)."""


def in_scope(user: User, kelurahan: str | None, kecamatan: str | None = None) -> bool:
    """A user bound to a kelurahan (or a ``kecamatan:<name>``) sees only its cameras."""
    if user.kelurahan is not None and user.kelurahan.startswith(KECAMATAN_SCOPE):
        return kecamatan is not None and user.kelurahan == KECAMATAN_SCOPE + kecamatan
    return user.kelurahan is None or user.kelurahan == kelurahan


AREAS_KEY = "nvr.camera_areas"
"""``runtime.extras[AREAS_KEY]``: ``{camera name: (kelurahan, kecamatan)}`` that a plugin worked out for cameras
whose config leaves them out (the kelurahan plugin: by location in a boundary, or from its region tree). The
camera's own config always wins; this only fills its gaps, with a dict lookup instead of a hook per camera."""


def default_allowed(user: User, action: str, camera: CameraConfig | None,
                    area: tuple[str | None, str | None] | None = None) -> bool:
    """nvr's own rule: the role ranks at least the action's minimum, and the camera is in the user's scope."""
    if ROLE_RANK.get(user.role, -1) < ROLE_RANK[MIN_ROLE.get(action, "admin")]:
        return False
    if camera is None:
        return True
    if area is None:
        return in_scope(user, camera.kelurahan, camera.kecamatan)
    return in_scope(user, camera.kelurahan or area[0], camera.kecamatan or area[1])


def _area(runtime: Runtime, camera: CameraConfig | None) -> tuple[str | None, str | None] | None:
    areas = runtime.extras.get(AREAS_KEY)
    return areas.get(camera.name) if areas and camera is not None else None


def camera_in_scope(runtime: Runtime, user: User, camera: CameraConfig) -> bool:
    """``in_scope`` for a configured camera, its kelurahan and kecamatan completed from ``AREAS_KEY`` (for
    plugins' ``permission`` hooks that allow their own actions within the user's scope)."""
    area = _area(runtime, camera) or (None, None)
    return in_scope(user, camera.kelurahan or area[0], camera.kecamatan or area[1])


F = TypeVar("F", bound=Callable[..., object])
ACTIONS_ATTR = "nvr_permission_actions"


def for_actions(*actions: str) -> Callable[[F], F]:
    """Declare the only actions a ``permission`` hook implementation has an opinion on.

    ``@hookimpl @for_actions("plates.view")``: nvr then calls it only for those actions, so listing 1,500
    cameras for ``camera.view`` never calls it. Undeclared implementations are called for every action.
    """
    def mark(function: F) -> F:
        setattr(function, ACTIONS_ATTR, frozenset(actions))
        return function
    return mark


def plugins_concerned(runtime: Runtime, action: str) -> bool:
    """Whether any plugin's ``permission`` hook may vote on ``action`` (else the default rule alone decides)."""
    hook = getattr(runtime.plugins.pm.hook, "permission", None)
    if hook is None:
        return False
    for impl in hook.get_hookimpls():
        actions = getattr(impl.function, ACTIONS_ATTR, None)
        if actions is None or action in actions:
            return True
    return False


def _plugins_then_default(runtime: Runtime, user: User, action: str, camera: CameraConfig | None) -> bool:
    votes = [v for _, v in runtime.plugins.call_sync("permission", user=user, action=action, camera=camera,
                                                      runtime=runtime) if v is not None]
    if False in votes:
        return False
    if True in votes:
        return True
    return default_allowed(user, action, camera, _area(runtime, camera))


def decide(runtime: Runtime, user: User, action: str, camera: CameraConfig | None = None) -> bool:
    """Plugins first (any False forbids, else any True allows), then the default."""
    if plugins_concerned(runtime, action):
        return _plugins_then_default(runtime, user, action, camera)
    return default_allowed(user, action, camera, _area(runtime, camera))


def decide_many(runtime: Runtime, user: User, action: str, cameras: Iterable[CameraConfig]) -> list[CameraConfig]:
    """The cameras of ``cameras`` on which ``user`` may do ``action``: ``decide`` for each, in one pass.

    When no plugin is concerned with ``action`` (``for_actions``), only the default rule runs for each
    camera, without a hook call per camera (1,500 hook calls cost 10-15 ms; this costs well under 1 ms).
    """
    if plugins_concerned(runtime, action):
        return [c for c in cameras if _plugins_then_default(runtime, user, action, c)]
    if user.kelurahan is None:  # no scope: the default rule is the role alone, the same for every camera
        return list(cameras) if default_allowed(user, action, None) else []
    areas = runtime.extras.get(AREAS_KEY) or {}
    return [c for c in cameras if default_allowed(user, action, c, areas.get(c.name))]


def allowed(request: web.Request, action: str, camera: CameraConfig | None = None) -> bool:
    """``decide`` for the request's user."""
    return decide(request.app[RUNTIME_KEY], request[USER_KEY], action, camera)


def require(request: web.Request, action: str, camera: CameraConfig | None = None) -> None:
    """Raise 403 unless ``allowed``; for a camera outside the user's view, 404 (its existence is not revealed)."""
    if camera is not None and not allowed(request, "camera.view", camera):
        raise web.HTTPNotFound(text=f"no camera named {camera.name!r}")
    if not allowed(request, action, camera):
        raise web.HTTPForbidden(text=f"not allowed: {action}")
