"""Who may do what with complaints: actions, least roles, the kelurahan scope, and the confidential reporter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import ROLE_RANK, allowed

from .area import kecamatan_kelurahans

if TYPE_CHECKING:
    from nvr.models import User
    from nvr.runtime import Runtime
    from nvr.storage.complaints_catalog import Complaint

__all__ = ["EXPORT", "INTAKE", "MIN_ROLE", "REPORTER", "UNSCOPED_ONLY", "UPDATE", "VIEW", "complaint_in_scope",
           "may_see_reporter", "role_allows", "scope_kelurahans", "scoped_complaint"]

VIEW = "complaints.view"
"""See complaints of the user's kelurahan (all of them for users of every camera); never their reporters."""
UPDATE = "complaints.update"
"""Move complaints along the workflow and re-link them."""
INTAKE = "complaints.intake"
"""Post complaints (the city app's integration account, with an API token)."""
REPORTER = "complaints.reporter"
"""See who reported a complaint (confidential)."""
EXPORT = "footage.export"
"""Export a complaint's footage as evidence (the core export permission: investigators)."""
MIN_ROLE = {VIEW: "viewer", UPDATE: "operator", INTAKE: "operator", REPORTER: "investigator"}
UNSCOPED_ONLY = frozenset({INTAKE, REPORTER})
"""Actions only users of every kelurahan may do: intake is city-wide, and reporters are never shown to kelurahan
users (whatever their role)."""
KELURAHAN_ROLES = frozenset({"kelurahan_viewer", "duty_officer"})
KECAMATAN_SCOPE = "kecamatan:"
"""A user scope ``kecamatan:<name>`` covers every kelurahan of that kecamatan (as in ``nvr.web.permissions``)."""


def scope_kelurahans(runtime: Runtime, user: User) -> tuple[str, ...] | None:
    """The kelurahan names whose complaints ``user`` may see; None for a user of every kelurahan.

    A kecamatan scope covers the kelurahans of its cameras and of the kelurahan plugin's region tree.
    """
    if user.kelurahan is None:
        return None
    if user.kelurahan.startswith(KECAMATAN_SCOPE):
        return tuple(sorted(kecamatan_kelurahans(runtime, user.kelurahan[len(KECAMATAN_SCOPE):])))
    return (user.kelurahan,)


def complaint_in_scope(runtime: Runtime, user: User, complaint: Complaint) -> bool:
    """A complaint is in a scoped user's view when its kelurahan is (one without a kelurahan: only unscoped users)."""
    scope = scope_kelurahans(runtime, user)
    return scope is None or complaint.kelurahan in scope


def role_allows(user: User, action: str) -> bool:
    """This plugin's rule for its own actions: the role ranks high enough, and scope rules for the unscoped ones."""
    if ROLE_RANK.get(user.role, -1) < ROLE_RANK.get(MIN_ROLE[action], 99):
        return False
    if action in UNSCOPED_ONLY and (user.kelurahan is not None or user.role in KELURAHAN_ROLES):
        return False
    return True


def may_see_reporter(request: web.Request) -> bool:
    """Whether the request's user may see reporters: never a kelurahan-scoped user, whatever a plugin says."""
    user = request[USER_KEY]
    if user.kelurahan is not None or user.role in KELURAHAN_ROLES:
        return False
    return allowed(request, REPORTER)


async def scoped_complaint(request: web.Request, action: str = VIEW) -> Complaint:
    """The complaint in the URL if the user may see it (else 404, revealing nothing) and may do ``action`` (403)."""
    if not allowed(request, VIEW):
        raise web.HTTPForbidden(text=f"not allowed: {VIEW}")
    try:
        complaint_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such complaint") from None
    complaint = await request.app[RUNTIME_KEY].catalog.get_complaint(complaint_id)
    if complaint is None or not complaint_in_scope(request.app[RUNTIME_KEY], request[USER_KEY], complaint):
        raise web.HTTPNotFound(text="no such complaint")
    if action != VIEW and not allowed(request, action):
        raise web.HTTPForbidden(text=f"not allowed: {action}")
    return complaint
