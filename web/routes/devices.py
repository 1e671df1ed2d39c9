"""Admin: discovered ONVIF devices and their adoption (form and JSON), and the plugins' health as JSON.

Discovery spans the whole city, so these routes are for admins of all cameras (an admin bound to a
kelurahan gets 403), like the audit log.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nvr.adoption import AdoptionError, adopt, device_key, forget, is_known, suggested_name
from nvr.discovery import DiscoveredDevice
from nvr.onvif_client import strip_credentials
from nvr.plugin_host import PluginStatus
from nvr.runtime import Runtime
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import require


def require_global_admin(request: web.Request) -> None:
    """403 unless the user is an admin of all cameras."""
    require(request, "admin")
    if request[USER_KEY].kelurahan is not None:
        raise web.HTTPForbidden(text="discovery spans every kelurahan: it needs an admin of all cameras")


def devices(runtime: Runtime) -> list[tuple[DiscoveredDevice, bool]]:
    """Discovered devices, each with whether it records already (config file or adopted); not adopted first."""
    found = list(runtime.discovery.devices.values()) if runtime.discovery is not None else []
    rows = [(d, is_known(runtime, d)) for d in found]
    return sorted(rows, key=lambda r: (r[1], r[0].name or "", r[0].host, r[0].port))


def device_json(runtime: Runtime, device: DiscoveredDevice, known: bool) -> dict[str, Any]:
    return {
        "id": device_key(device), "name": device.name, "host": device.host, "port": device.port,
        "manufacturer": device.manufacturer, "model": device.model, "serial": device.serial,
        "firmware": device.firmware, "state": device.state, "error": device.error,
        "main_uri": strip_credentials(device.main_uri), "sub_uri": strip_credentials(device.sub_uri),
        "recording": known, "suggested_name": None if known else suggested_name(runtime, device),
    }


def plugin_json(status: PluginStatus) -> dict[str, Any]:
    return {"name": status.name, "source": status.source, "healthy": status.healthy, "calls": status.calls,
            "errors": status.errors, "load_error": status.load_error, "last_error": status.last_error,
            "last_error_hook": status.last_error_hook, "last_error_at": status.last_error_at}


async def devices_json(request: web.Request) -> web.StreamResponse:
    """GET /api/devices: discovered devices, whether each records, and the last sweep."""
    require_global_admin(request)
    runtime = request.app[RUNTIME_KEY]
    discovery = runtime.discovery
    return web.json_response({
        "devices": [device_json(runtime, d, known) for d, known in devices(runtime)],
        "last_sweep": discovery.last_sweep.isoformat() if discovery and discovery.last_sweep else None,
        "last_error": discovery.last_error if discovery else None,
        "enabled": runtime.config.discovery.enabled,
    })


def _fields(body: dict[str, Any]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for field in ("device", "name", "title", "kelurahan", "kecamatan"):
        value = body.get(field)
        if value is not None and not isinstance(value, str):
            raise AdoptionError(field, "a string")
        out[field] = value.strip() if isinstance(value, str) and value.strip() else None
        if out[field] is not None and len(out[field] or "") > 200:
            raise AdoptionError(field, "at most 200 characters")
    if out["device"] is None:
        raise AdoptionError("device", "which discovered device to adopt (its id)")
    return out


async def _adopt(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    runtime, user = request.app[RUNTIME_KEY], request[USER_KEY]
    fields = _fields(body)
    camera = await adopt(runtime, fields["device"] or "", fields["name"] or "", by=user.username,
                         title=fields["title"], kelurahan=fields["kelurahan"], kecamatan=fields["kecamatan"])
    device = runtime.discovery.devices.get(fields["device"]) if runtime.discovery else None
    await runtime.catalog.audit(user.username, "camera.adopt", f"camera:{camera.name}", {
        "device": fields["device"], "host": device.host if device else None, "port": device.port if device else None,
        "kelurahan": camera.kelurahan, "kecamatan": camera.kecamatan})
    return {"name": camera.name, "title": camera.title, "kelurahan": camera.kelurahan,
            "kecamatan": camera.kecamatan, "page": f"/cameras/{camera.name}"}


async def adopt_json(request: web.Request) -> web.StreamResponse:
    """POST /api/devices/adopt {"device", "name", "title"?, "kelurahan"?, "kecamatan"?} -> 201 and the camera."""
    require_global_admin(request)
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body: not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body: expected a JSON object")
    try:
        camera = await _adopt(request, body)
    except AdoptionError as exc:
        raise {404: web.HTTPNotFound, 409: web.HTTPConflict, 422: web.HTTPUnprocessableEntity}.get(
            exc.status, web.HTTPBadRequest)(text=str(exc)) from None
    return web.json_response(camera, status=201, headers={"Location": camera["page"]})


async def adopt_form(request: web.Request) -> web.StreamResponse:
    """POST /admin/devices/adopt (the admin page's form): adopt, then back to the admin page."""
    require_global_admin(request)
    form = await request.post()
    try:
        await _adopt(request, {k: v for k, v in form.items() if isinstance(v, str)})
    except AdoptionError as exc:
        from nvr.web.routes.admin import admin_page

        return await admin_page(request, str(exc), exc.status if exc.status != 404 else 400)
    raise web.HTTPSeeOther("/admin#devices")


async def _forget(request: web.Request, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise AdoptionError("name", "which adopted camera to forget")
    removed = await forget(request.app[RUNTIME_KEY], name.strip())
    await request.app[RUNTIME_KEY].catalog.audit(request[USER_KEY].username, "camera.forget",
                                                 f"camera:{removed.name}", {"host": removed.onvif_host,
                                                                            "port": removed.onvif_port})
    return removed.name


async def forget_form(request: web.Request) -> web.StreamResponse:
    """POST /admin/devices/forget (name): stop recording an adopted camera and forget it (footage stays)."""
    require_global_admin(request)
    form = await request.post()
    try:
        await _forget(request, form.get("name"))
    except AdoptionError as exc:
        from nvr.web.routes.admin import admin_page

        return await admin_page(request, str(exc), exc.status)
    raise web.HTTPSeeOther("/admin#devices")


async def forget_json(request: web.Request) -> web.StreamResponse:
    """POST /api/devices/forget {"name"}: the same as JSON."""
    require_global_admin(request)
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body: not JSON") from None
    try:
        name = await _forget(request, body.get("name") if isinstance(body, dict) else None)
    except AdoptionError as exc:
        raise (web.HTTPNotFound if exc.status == 404 else web.HTTPBadRequest)(text=str(exc)) from None
    return web.json_response({"forgotten": name})


async def sweep_form(request: web.Request) -> web.StreamResponse:
    """POST /admin/devices/sweep: probe now instead of waiting for the next scheduled sweep."""
    require_global_admin(request)
    discovery = request.app[RUNTIME_KEY].discovery
    if discovery is None or not request.app[RUNTIME_KEY].config.discovery.enabled:
        from nvr.web.routes.admin import admin_page

        return await admin_page(request, "discovery: enable [discovery] in the config first", 409)
    await discovery.sweep()  # bounded by [discovery] timeout_s and the per-device query timeout
    raise web.HTTPSeeOther("/admin#devices")


async def plugins_json(request: web.Request) -> web.StreamResponse:
    """GET /api/plugins: every plugin with its health (calls, errors, the last error)."""
    require_global_admin(request)
    statuses = sorted(request.app[RUNTIME_KEY].plugins.status.values(), key=lambda p: p.name)
    return web.json_response({"plugins": [plugin_json(p) for p in statuses]})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/devices", devices_json)
    app.router.add_post("/api/devices/adopt", adopt_json)
    app.router.add_post("/admin/devices/adopt", adopt_form)
    app.router.add_post("/admin/devices/sweep", sweep_form)
    app.router.add_post("/admin/devices/forget", forget_form)
    app.router.add_post("/api/devices/forget", forget_json)
    app.router.add_get("/api/plugins", plugins_json)
