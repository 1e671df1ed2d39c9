"""The complaint pages: the list (SLA colour, filters, pages) and one complaint (map, clips, events, status, export)."""

from __future__ import annotations

import json

from aiohttp import web

from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import allowed, require
from nvr.web.routes.scope import visible_cameras
from nvr.web.templating import render

from .access import EXPORT, UPDATE, VIEW, scope_kelurahans, scoped_complaint
from .api import PAGE, change_status, complaint_detail, list_filter, page_number, start_export
from .geo import haversine_m
from .linking import category_of
from .present import complaint_json, sla_now
from .service import config_of
from .sla import OPEN_STATUSES
from .svgmap import MapCamera, svg_map
from .workflow import LABELS, STATUSES

__all__ = ["routes"]

MAP_FACTOR = 1.4
"""The map shows cameras up to this many radii from the point."""


def _error_text(exc: web.HTTPException) -> str:
    try:
        return str(json.loads(exc.text or "{}").get("error") or exc.reason)
    except ValueError:
        return exc.text or exc.reason


async def list_page(request: web.Request) -> web.StreamResponse:
    """GET /complaints"""
    require(request, VIEW)
    runtime, user = request.app[RUNTIME_KEY], request[USER_KEY]
    config, page = config_of(runtime), page_number(request)
    where = list_filter(request, page)
    found = await runtime.catalog.list_complaints(where)
    total = await runtime.catalog.count_complaints(where)
    scope = scope_kelurahans(runtime, user)
    if scope is not None:
        kelurahans = list(scope)
    else:
        kelurahans = sorted(set(await runtime.catalog.complaint_kelurahans())
                            | {c.kelurahan for c in runtime.config.cameras if c.kelurahan})
    query = {k: v for k, v in request.query.items() if k != "page" and v}
    return render(request, "complaints/list.html", complaints=[complaint_json(c, sla_now(runtime, config, c))
                                                              for c in found],
                  total=total, page=page, pages=max(1, -(-total // PAGE)), query=query, statuses=STATUSES,
                  labels=LABELS, categories=config.category_names(), kelurahans=kelurahans,
                  sla_colours=("green", "amber", "red"), open_statuses=OPEN_STATUSES)


async def _detail_page(request: web.Request, status: int = 200, error: str | None = None) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    complaint = await scoped_complaint(request)
    detail = await complaint_detail(request, complaint)
    category = category_of(config_of(runtime), complaint.category)
    linked = {c["camera"] for c in detail["cameras"]}
    shown = []
    for cam in visible_cameras(request):
        loc = cam.location
        if loc is not None and haversine_m(loc.lat, loc.lon, complaint.lat, complaint.lon) <= \
                category.radius_m * MAP_FACTOR:
            shown.append(MapCamera(cam.name, loc.lat, loc.lon, loc.direction_deg, loc.fov_deg, cam.name in linked))
    history = await runtime.catalog.audit_entries(limit=100, target=f"complaint:{complaint.id}")
    return render(request, "complaints/detail.html", status=status, c=detail, error=error,
                  map=svg_map(complaint.lat, complaint.lon, category.radius_m, shown), radius_m=category.radius_m,
                  history=list(reversed(history)), labels=LABELS, can_update=allowed(request, UPDATE),
                  can_export=allowed(request, EXPORT), show_reporter="reporter" in detail)


async def detail_page(request: web.Request) -> web.StreamResponse:
    """GET /complaints/{id}"""
    return await _detail_page(request)


async def status_form(request: web.Request) -> web.StreamResponse:
    """POST /complaints/{id}/status (form: status, note)"""
    complaint = await scoped_complaint(request, UPDATE)
    form = await request.post()
    try:
        await change_status(request, complaint, form.get("status"), form.get("note") or None)
    except web.HTTPException as exc:
        return await _detail_page(request, status=exc.status, error=_error_text(exc))
    raise web.HTTPSeeOther(f"/complaints/{complaint.id}")


async def export_form(request: web.Request) -> web.StreamResponse:
    """POST /complaints/{id}/export (form: reason): the linked footage into an evidence bundle."""
    complaint = await scoped_complaint(request)
    form = await request.post()
    try:
        job = await start_export(request, complaint, form.get("reason"))
    except web.HTTPException as exc:
        if exc.status == 403:
            raise web.HTTPForbidden(text=f"this needs the permission {EXPORT} (the investigator role)") from None
        return await _detail_page(request, status=exc.status, error=_error_text(exc))
    raise web.HTTPSeeOther(f"/exports#export-{job.id}")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/complaints", list_page),
        web.get("/complaints/{id}", detail_page),
        web.post("/complaints/{id}/status", status_form),
        web.post("/complaints/{id}/export", export_form),
    ]

