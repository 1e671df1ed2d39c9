"""The operators' dashboard: a paged, filterable grid of cameras with live thumbnails, and the thumbnail endpoint."""

from __future__ import annotations

import asyncio
import math

from aiohttp import web

from nvr.thumbnails import ThumbnailService, ThumbnailUnavailable
from nvr.web import query_params as qp
from nvr.web.keys import RUNTIME_KEY
from nvr.web.routes.camera_filter import CameraFilter
from nvr.web.routes.scope import scoped_camera, visible_cameras
from nvr.web.templating import render

PAGE_SIZE = 48
THUMBNAILS_KEY = web.AppKey("thumbnails", ThumbnailService)
STATE_CLASS = {"online": "ok", "recording": "ok", "starting": "wait", "connecting": "wait",
               "elsewhere": "ok",  # a cluster node: another node records it (nvr.nodes)
               "disabled": "off", "removed": "off", "stopped": "off"}


async def dashboard(request: web.Request) -> web.StreamResponse:
    """GET /: cameras as a grid; ?q= &tag= &kecamatan= &kelurahan= &state= &page= filter and page it."""
    runtime = request.app[RUNTIME_KEY]
    cameras = visible_cameras(request)
    statuses = {s.name: s for s in (runtime.cameras.statuses() if runtime.cameras else [])}
    facets = {
        "kecamatan": sorted({c.kecamatan for c in cameras if c.kecamatan}),
        "kelurahan": sorted({c.kelurahan for c in cameras if c.kelurahan}),
        "tag": sorted({t for c in cameras for t in c.tags}),
    }
    wanted = CameraFilter.of(request)
    chosen = wanted.chosen()

    def state_of(name: str) -> str:
        status = statuses.get(name)
        return status.state if status else "disabled"

    shown = wanted.apply(cameras, state_of)
    counts: dict[str, int] = {}
    for cam in cameras:
        counts[state_of(cam.name)] = counts.get(state_of(cam.name), 0) + 1
    page = qp.integer(request, "page", 1) or 1
    pages = max(1, math.ceil(len(shown) / PAGE_SIZE))
    page_cams = shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    analysis = runtime.analysis
    open_events = {
        c.name: len(analysis.cameras[c.name].events.open_events)
        for c in page_cams if analysis is not None and c.name in analysis.cameras
    }
    disk = await runtime.retention.disk() if runtime.retention is not None else None
    query = {k: v for k, v in chosen.items() if v}
    return render(request, "dashboard.html", cameras=page_cams, total=len(shown), all_count=len(cameras),
                  page=page, pages=pages, query=query, facets=facets, chosen=chosen, counts=counts,
                  state_of=state_of, state_class=STATE_CLASS, open_events=open_events, disk=disk,
                  statuses=statuses)


async def thumbnail(request: web.Request) -> web.StreamResponse:
    """GET /api/cameras/{name}/thumbnail.jpg?max_age=30: a recent JPEG (cached; 503 when the camera gives none)."""
    camera = scoped_camera(request)
    max_age = qp.number(request, "max_age", 1, 3600) or 30.0
    try:
        jpeg = await asyncio.wait_for(request.app[THUMBNAILS_KEY].get(camera, max_age), timeout=15)
    except (ThumbnailUnavailable, TimeoutError) as exc:
        raise web.HTTPServiceUnavailable(text=f"no thumbnail: {exc or 'timed out'}",
                                         headers={"Retry-After": "15"}) from None
    return web.Response(body=jpeg, content_type="image/jpeg",
                        headers={"Cache-Control": f"private, max-age={int(min(max_age, 30))}"})


def setup(app: web.Application) -> None:
    app[THUMBNAILS_KEY] = ThumbnailService(app[RUNTIME_KEY])
    app.router.add_get("/", dashboard)
    app.router.add_get("/api/cameras/{name}/thumbnail.jpg", thumbnail)
