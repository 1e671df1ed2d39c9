"""The admin page: users (create, role and scope, disable), storage per camera, discovered devices to adopt,
plugins and their health, and the audit log."""

from __future__ import annotations

from aiohttp import web

from nvr.adoption import suggested_name
from nvr.models import ROLES
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import require
from nvr.web.routes import users
from nvr.web.routes.devices import devices
from nvr.web.routes.storage import usage_for
from nvr.web.templating import fragments, render

AUDIT_ROWS = 200


async def admin_page(request: web.Request, error: str | None = None, status: int = 200) -> web.StreamResponse:
    """GET /admin"""
    require(request, "admin")
    runtime = request.app[RUNTIME_KEY]
    catalog = runtime.catalog
    user = request[USER_KEY]
    managed = await users.managed_users(request)  # an admin bound to a kelurahan: that kelurahan's users only
    usage = await usage_for(request)
    audit = []
    if user.kelurahan is None and hasattr(catalog, "audit_entries"):  # the log spans every kelurahan
        audit = await catalog.audit_entries(AUDIT_ROWS)
    kelurahan = sorted({c.kelurahan for c in runtime.config.cameras if c.kelurahan})
    kelurahan += sorted({f"kecamatan:{c.kecamatan}" for c in runtime.config.cameras if c.kecamatan})  # whole kecamatan
    everywhere = user.kelurahan is None  # discovery and plugins span every kelurahan
    discovery = runtime.discovery
    return render(request, "admin.html", status=status, fragments=fragments(request, "admin", None),
                  users=managed, usage=usage, audit=audit, roles=ROLES,
                  kelurahan=kelurahan, error=error, everywhere=everywhere,
                  discovered=devices(runtime) if everywhere else [], can_adopt=everywhere,
                  suggest=lambda d: suggested_name(runtime, d),
                  discovery_error=discovery.last_error if discovery and everywhere else None,
                  plugins=sorted(runtime.plugins.status.values(), key=lambda p: p.name) if everywhere else [],
                  adopted=await catalog.list_adopted_cameras() if everywhere else [])


async def _form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: str(v) for k, v in form.items() if k != "csrf_token"}


async def create_user_form(request: web.Request) -> web.StreamResponse:
    """POST /admin/users: create a user."""
    require(request, "admin")
    try:
        await users.create(request, await _form(request))
    except users.UserInputError as exc:
        return await admin_page(request, str(exc), 400)
    raise web.HTTPSeeOther("/admin")


async def update_user_form(request: web.Request) -> web.StreamResponse:
    """POST /admin/users/{username}: change role and scope (action=role), disable or enable."""
    target = await users.target_user(request)
    form = await _form(request)
    action = form.get("action", "role")
    fields: dict[str, object] = ({"disabled": action == "disable"} if action in ("disable", "enable") else
                                 {"role": form.get("role"), "kelurahan": form.get("kelurahan", "")})
    try:
        await users.update(request, target, fields)
    except users.UserInputError as exc:
        return await admin_page(request, str(exc), 400)
    raise web.HTTPSeeOther("/admin")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin", admin_page)
    app.router.add_post("/admin/users", create_user_form)
    app.router.add_post("/admin/users/{username}", update_user_form)
