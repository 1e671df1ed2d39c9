"""User management shared by the admin page's forms and the JSON API (``/api/users``): create, change role and
scope, disable or enable; audited; an admin bound to a kelurahan manages only that kelurahan's users.

Passwords are set when a user is created (``nvr user passwd`` changes them); no answer ever carries a
password or its hash.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nvr.errors import CatalogError
from nvr.models import ROLES, User
from nvr.users import create_user
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import require


class UserInputError(ValueError):
    """A refused change; ``str()`` is "field: what is wrong"."""


async def audit(request: web.Request, action: str, target: str, detail: dict[str, Any]) -> None:
    catalog = request.app[RUNTIME_KEY].catalog
    if hasattr(catalog, "audit"):
        await catalog.audit(request[USER_KEY].username, action, target, detail)


async def managed_users(request: web.Request) -> list[User]:
    """The users this admin manages: all of them, or those of the admin's own kelurahan."""
    users = await request.app[RUNTIME_KEY].catalog.list_users()
    own = request[USER_KEY].kelurahan
    return users if own is None else [u for u in users if u.kelurahan == own]


def _role(value: Any) -> str:
    if value not in ROLES:
        raise UserInputError(f"role: one of {', '.join(ROLES)}")
    return str(value)


def _scope(request: web.Request, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise UserInputError("kelurahan: a string (empty for all cameras)")
    scope = (value or "").strip() or None
    own = request[USER_KEY].kelurahan
    if own is not None and scope != own:
        raise UserInputError(f"kelurahan: you may only manage users of {own}")
    return scope


async def create(request: web.Request, fields: dict[str, Any]) -> User:
    """Create a user from ``username``, ``password``, ``role`` and ``kelurahan`` (audited)."""
    require(request, "admin")
    username, password = fields.get("username"), fields.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise UserInputError("username: a name and a password (strings)")
    role, scope = _role(fields.get("role")), _scope(request, fields.get("kelurahan"))
    try:
        user = await create_user(request.app[RUNTIME_KEY].catalog, username.strip(), password, role, scope)
    except (ValueError, CatalogError) as exc:
        raise UserInputError(str(exc) if ": " in str(exc) else f"username: {exc}") from None
    await audit(request, "user.create", f"user:{user.username}", {"role": role, "kelurahan": scope})
    return user


async def target_user(request: web.Request) -> User:
    """The user named in the URL, if this admin manages them (else 404)."""
    require(request, "admin")
    target = await request.app[RUNTIME_KEY].catalog.get_user(request.match_info["username"])
    own = request[USER_KEY].kelurahan
    if target is None or (own is not None and target.kelurahan != own):
        raise web.HTTPNotFound(text="no such user")
    return target


async def update(request: web.Request, target: User, fields: dict[str, Any]) -> User:
    """Apply ``disabled`` (true/false) and/or ``role`` with ``kelurahan`` to ``target`` (audited)."""
    catalog = request.app[RUNTIME_KEY].catalog
    if target.id == request[USER_KEY].id:
        raise UserInputError("role: change your own account from another admin's session")
    try:
        if "disabled" in fields:
            if not isinstance(fields["disabled"], bool):
                raise UserInputError("disabled: true or false")
            await catalog.set_user_disabled(target.id, fields["disabled"])
            await audit(request, f"user.{'disable' if fields['disabled'] else 'enable'}", f"user:{target.username}",
                        {})
        if "role" in fields:
            role, scope = _role(fields["role"]), _scope(request, fields.get("kelurahan"))
            await catalog.set_user_role(target.id, role, scope)
            await audit(request, "user.role", f"user:{target.username}",
                        {"from": [target.role, target.kelurahan], "to": [role, scope]})
    except CatalogError as exc:
        raise UserInputError(str(exc) if ": " in str(exc) else f"role: {exc}") from None
    return await catalog.get_user(target.username) or target


def user_json(user: User) -> dict[str, Any]:
    return {"username": user.username, "role": user.role, "kelurahan": user.kelurahan, "disabled": user.disabled,
            "created_at_us": user.created_at}


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body: not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body: expected a JSON object")
    return body


async def list_json(request: web.Request) -> web.StreamResponse:
    """GET /api/users: the users this admin manages (never a password or its hash)."""
    require(request, "admin")
    return web.json_response({"users": [user_json(u) for u in await managed_users(request)]})


async def create_json(request: web.Request) -> web.StreamResponse:
    """POST /api/users {"username", "password", "role", "kelurahan"?} -> 201 and the user."""
    require(request, "admin")
    try:
        user = await create(request, await _body(request))
    except UserInputError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(user_json(user), status=201)


async def update_json(request: web.Request) -> web.StreamResponse:
    """POST /api/users/{username} {"role", "kelurahan"} and/or {"disabled": true|false} -> the user."""
    target = await target_user(request)
    try:
        user = await update(request, target, await _body(request))
    except UserInputError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(user_json(user))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/users", list_json)
    app.router.add_post("/api/users", create_json)
    app.router.add_post("/api/users/{username}", update_json)
