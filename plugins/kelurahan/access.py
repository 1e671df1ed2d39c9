"""Who may use the plugin's actions: the least role of each, within the user's region scope."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .regions import scope_matches

if TYPE_CHECKING:
    from nvr.config import CameraConfig
    from nvr.models import User

    from .state import KelurahanState

MIN_ROLE = {
    "kelurahan.dashboard": "viewer",    # the kelurahan dashboard (kelurahan_viewer ranks as viewer)
    "event.escalate": "operator",       # hand an event to its agency (duty_officer ranks as operator)
    "share.create": "operator",         # share one camera's live view or one clip
    "share.manage": "admin",            # see and revoke every share link, the webhook delivery log
}
"""The least role of this plugin's actions."""


def _rank_ok(user: User, action: str) -> bool:
    from nvr.web.permissions import MIN_ROLE as CORE_MIN_ROLE
    from nvr.web.permissions import ROLE_RANK

    least = MIN_ROLE.get(action) or CORE_MIN_ROLE.get(action) or "admin"
    return ROLE_RANK.get(user.role, -1) >= ROLE_RANK[least]


def plugin_permission(state: KelurahanState | None, user: User, action: str,
                      camera: CameraConfig | None) -> bool | None:
    """Allow this plugin's actions by role and region scope; no opinion otherwise (admins keep them all)."""
    if action not in MIN_ROLE or not _rank_ok(user, action):
        return None
    if camera is None or user.kelurahan is None:
        return True
    from nvr.web.permissions import in_scope

    if in_scope(user, camera.kelurahan, camera.kecamatan):
        return True
    return True if state is not None and scope_matches(user.kelurahan, state.region_of(camera)) else None
