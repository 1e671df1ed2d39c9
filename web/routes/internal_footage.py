"""GET /internal/segments/{id}: a segment file for another node of the cluster (node signature, no user login)."""

from __future__ import annotations

import logging

from aiohttp import web

from nvr.node_auth import HEADER, verify
from nvr.web.auth import public_route
from nvr.web.keys import RUNTIME_KEY

__all__ = ["setup"]

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> web.HTTPException:
    cls = {401: web.HTTPUnauthorized, 404: web.HTTPNotFound}[status]
    return cls(text=f'{{"error": "{message}"}}', content_type="application/json")


@public_route  # no user session: the caller proves it is a node with the cluster secret (nvr.node_auth)
async def segment_file(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME_KEY]
    secret = runtime.config.cluster.secret
    caller = verify(secret.get_secret_value() if secret else "", "GET", request.path, request.headers.get(HEADER))
    if caller is None:
        raise _error(401, "a node signature (X-NVR-Node-Auth) is required")
    try:
        segment_id = int(request.match_info["id"])
    except ValueError:
        raise _error(404, "no such segment") from None
    segment = await runtime.catalog.get_segment(segment_id)
    me = getattr(runtime.catalog, "node", None)
    holder = (await runtime.catalog.segment_nodes([segment_id])).get(segment_id) if segment else None
    if segment is None or segment.state != "ok" or holder not in (None, me):
        raise _error(404, "no such segment on this node")
    path = runtime.config.storage.root / segment.path
    if not path.is_file():
        raise _error(404, "the segment's file is missing on this node")
    log.debug("node %s fetches segment %d (%s)", caller, segment_id, segment.path)
    return web.FileResponse(path, headers={"Content-Type": "video/mp4", "X-NVR-SHA256": segment.sha256,
                                           "Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app.router.add_get("/internal/segments/{id}", segment_file)
