"""Storage as JSON (``/api/storage``): footage per camera, and the disk for admins of all cameras; the admin
page shows the same table."""

from __future__ import annotations

from aiohttp import web

from nvr.models import CameraUsage
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import require
from nvr.web.routes.scope import visible_cameras


async def usage_for(request: web.Request) -> list[CameraUsage]:
    """Footage per camera the user may see; admins of all cameras also get cameras that left the config."""
    usage = await request.app[RUNTIME_KEY].catalog.usage_by_camera()
    if request[USER_KEY].kelurahan is None:
        return usage
    mine = {c.name for c in visible_cameras(request)}
    return [u for u in usage if u.camera in mine]


async def storage_json(request: web.Request) -> web.StreamResponse:
    """GET /api/storage: bytes, segments, oldest and newest footage per camera; disk space (all-camera admins)."""
    require(request, "admin")
    runtime = request.app[RUNTIME_KEY]
    disk = None
    if request[USER_KEY].kelurahan is None and runtime.retention is not None:
        found = await runtime.retention.disk()
        disk = None if found is None else {"total_bytes": found.total_bytes, "free_bytes": found.free_bytes,
                                           "floor_bytes": found.floor_bytes}
    return web.json_response({"cameras": [
        {"camera": u.camera, "segments": u.segments, "bytes": u.bytes, "oldest_start_us": u.oldest_start,
         "newest_end_us": u.newest_end} for u in await usage_for(request)], "disk": disk})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/storage", storage_json)
