"""The admin page: users (create, role and scope, disable, password), storage per camera, and the audit log."""

from __future__ import annotations

from aiohttp import web

from nvr.errors import CatalogError
from nvr.models import ROLES
from nvr.users import create_user
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import require
from nvr.web.templating import render

AUDIT_ROWS = 200


async def _audit(request: web.Request, action: str, target: str, detail: dict) -> None:
    catalog = request.app[RUNTIME_KEY].catalog
    if hasattr(catalog, "audit"):
        await catalog.audit(request[USER_KEY].username, action, target, detail)


async def admin_page(request: web.Request, error: str | None = None, status: int = 200) -> web.StreamResponse:
    """GET /admin"""
    require(request, "admin")
    runtime = request.app[RUNTIME_KEY]
    catalog = runtime.catalog
    user = request[USER_KEY]
    users = await catalog.list_users()
    if user.kelurahan is not None:  # an admin bound to a kelurahan manages that kelurahan's users only
        users = [u for u in users if u.kelurahan == user.kelurahan]
    usage = [u for u in await catalog.usage_by_camera()
             if user.kelurahan is None or (runtime.config.camera(u.camera) is not None
                                           and runtime.config.camera(u.camera).kelurahan == user.kelurahan)]
    audit = []
    if user.kelurahan is None and hasattr(catalog, "audit_entries"):  # the log spans every kelurahan
        audit = await catalog.audit_entries(AUDIT_ROWS)
    kelurahan = sorted({c.kelurahan for c in runtime.config.cameras if c.kelurahan})
    return render(request, "admin.html", status=status, users=users, usage=usage, audit=audit, roles=ROLES,
                  kelurahan=kelurahan, error=error)


async def _form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: str(v) for k, v in form.items() if k != "csrf_token"}


def _scope_field(request: web.Request, value: str) -> str | None:
    scope = value.strip() or None
    own = request[USER_KEY].kelurahan
    if own is not None and scope != own:
        raise ValueError(f"kelurahan: you may only manage users of {own}")
    return scope


async def create_user_form(request: web.Request) -> web.StreamResponse:
    """POST /admin/users: create a user."""
    require(request, "admin")
    form = await _form(request)
    try:
        role = form.get("role", "")
        if role not in ROLES:
            raise ValueError(f"role: one of {', '.join(ROLES)}")
        scope = _scope_field(request, form.get("kelurahan", ""))
        await create_user(request.app[RUNTIME_KEY].catalog, form.get("username", "").strip(),
                          form.get("password", ""), role, scope)
    except (ValueError, CatalogError) as exc:
        return await admin_page(request, str(exc), 400)
    await _audit(request, "user.create", f"user:{form['username']}", {"role": role, "kelurahan": scope})
    raise web.HTTPSeeOther("/admin")


async def update_user_form(request: web.Request) -> web.StreamResponse:
    """POST /admin/users/{username}: change role and scope, disable or enable."""
    require(request, "admin")
    catalog = request.app[RUNTIME_KEY].catalog
    target = await catalog.get_user(request.match_info["username"])
    own = request[USER_KEY].kelurahan
    if target is None or (own is not None and target.kelurahan != own):
        raise web.HTTPNotFound(text="no such user")
    form = await _form(request)
    try:
        if target.id == request[USER_KEY].id:
            raise ValueError("role: change your own account from another admin's session")
        if form.get("action") in ("disable", "enable"):
            await catalog.set_user_disabled(target.id, form["action"] == "disable")
            await _audit(request, f"user.{form['action']}", f"user:{target.username}", {})
        else:
            role = form.get("role", "")
            if role not in ROLES:
                raise ValueError(f"role: one of {', '.join(ROLES)}")
            scope = _scope_field(request, form.get("kelurahan", ""))
            await catalog.set_user_role(target.id, role, scope)
            await _audit(request, "user.role", f"user:{target.username}",
                         {"from": [target.role, target.kelurahan], "to": [role, scope]})
    except (ValueError, CatalogError) as exc:
        return await admin_page(request, str(exc), 400)
    raise web.HTTPSeeOther("/admin")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin", admin_page)
    app.router.add_post("/admin/users", create_user_form)
    app.router.add_post("/admin/users/{username}", update_user_form)
