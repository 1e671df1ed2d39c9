"""The complaint JSON API (``/api/complaints``): intake, list, detail, status, re-link, photo, evidence export."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from nvr.clock import now_us
from nvr.errors import CatalogError
from nvr.export_plan import ExportInputError, validate_request
from nvr.storage.complaints_catalog import STATUSES, Complaint, ComplaintConflict, ComplaintFilter
from nvr.web.api_errors import error_body
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import allowed, require
from nvr.web.routes.scope import visible_cameras

from .access import EXPORT, INTAKE, UPDATE, VIEW, may_see_reporter, scope_kelurahans, scoped_complaint
from .intake import IntakeError, parse_payload
from .present import camera_json, complaint_json, event_json, reporter_json, sla_now
from .service import TransitionError, config_of, receive, relink, set_status
from .sla import OPEN_STATUSES, sla_window

__all__ = ["complaint_detail", "list_filter", "routes"]

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024 * 1024
"""Bodies are read up to this (past aiohttp's 1 MiB default) so that an over-long field is named, not just 413."""
PAGE = 50


def json_error(status: int, field: str | None, message: str) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict,
           413: web.HTTPRequestEntityTooLarge, 422: web.HTTPUnprocessableEntity}[status]
    body = {**error_body(status, f"{field}: {message}" if field else message), "field": field}
    if status == 413:
        return cls(max_size=0, actual_size=0, text=json.dumps(body), content_type="application/json")
    return cls(text=json.dumps(body), content_type="application/json")


async def read_json(request: web.Request, limit: int | None = None) -> Any:
    """The JSON body, read up to ``limit`` bytes (default ``MAX_BODY``): 413 naming ``body`` past it; 400 not JSON."""
    limit = MAX_BODY if limit is None else limit
    if request.content_length is not None and request.content_length > limit:
        raise json_error(413, "body", f"larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(256 * 1024):
        size += len(chunk)
        if size > limit:
            raise json_error(413, "body", f"larger than {limit} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    try:
        return json.loads(data or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise json_error(400, "body", "not JSON") from None


async def complaint_detail(request: web.Request, complaint: Complaint) -> dict[str, Any]:
    """The complaint with its links to cameras and events the user may see, and its reporter if allowed."""
    runtime = request.app[RUNTIME_KEY]
    config = config_of(runtime)
    visible = {c.name for c in visible_cameras(request)}
    cameras = []
    for link in await runtime.catalog.complaint_cameras(complaint.id):
        if link.camera in visible:
            segments = len(await runtime.catalog.segments(link.camera, link.start_us, link.end_us))
            cameras.append(camera_json(link, segments))
    events = [event_json(e) for e in await runtime.catalog.complaint_events(complaint.id) if e.camera in visible]
    out = {**complaint_json(complaint, sla_now(runtime, config, complaint)), "cameras": cameras, "events": events}
    if may_see_reporter(request):
        out["reporter"] = reporter_json(await runtime.catalog.complaint_reporter(complaint.id))
    return out


def list_filter(request: web.Request, page: int) -> ComplaintFilter:
    """The list's filters from the query string (status, category, kelurahan, sla), scoped to the user."""
    runtime, user = request.app[RUNTIME_KEY], request[USER_KEY]
    config = config_of(runtime)
    q = request.query
    statuses: tuple[str, ...] | None = None
    if q.get("status"):
        if q["status"] not in STATUSES:
            raise json_error(400, "status", f"use one of {', '.join(STATUSES)}")
        statuses = (q["status"],)
    after = before = None
    if q.get("sla"):
        try:
            after, before = sla_window(q["sla"], now_us(runtime.clock), config.response_days, config.amber_days)
        except ValueError as exc:
            raise json_error(400, "sla", str(exc).split(": ", 1)[1]) from None
        statuses = tuple(s for s in (statuses or OPEN_STATUSES) if s in OPEN_STATUSES)
    return ComplaintFilter(statuses=statuses, category=q.get("category") or None,
                           kelurahan=q.get("kelurahan") or None, scope=scope_kelurahans(runtime, user),
                           reported_after_us=after, reported_before_us=before, limit=PAGE, offset=(page - 1) * PAGE)


def page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise json_error(400, "page", "a page number from 1")
    return int(raw)


async def intake_json(request: web.Request) -> web.StreamResponse:
    """POST /api/complaints: store a complaint (idempotent on external_id) and link it; 201 new, 200 repeated."""
    require(request, INTAKE)
    runtime = request.app[RUNTIME_KEY]
    body = await read_json(request)
    try:
        new = parse_payload(body, config_of(runtime), now_us(runtime.clock))
    except IntakeError as exc:
        raise json_error(400, exc.field, exc.message) from None
    complaint, created = await receive(runtime, new, request[USER_KEY].username)
    out = {**await complaint_detail(request, complaint), "created": created}
    return web.json_response(out, status=201 if created else 200,
                             headers={"Location": f"/api/complaints/{complaint.id}"})


async def list_json(request: web.Request) -> web.StreamResponse:
    """GET /api/complaints?status=&category=&kelurahan=&sla=&page="""
    require(request, VIEW)
    runtime = request.app[RUNTIME_KEY]
    config, page = config_of(runtime), page_number(request)
    where = list_filter(request, page)
    found = await runtime.catalog.list_complaints(where)
    total = await runtime.catalog.count_complaints(where)
    return web.json_response({"complaints": [complaint_json(c, sla_now(runtime, config, c)) for c in found],
                              "total": total, "page": page, "per_page": PAGE})


async def detail_json(request: web.Request) -> web.StreamResponse:
    """GET /api/complaints/{id}"""
    return web.json_response(await complaint_detail(request, await scoped_complaint(request)))


async def change_status(request: web.Request, complaint: Complaint, status: object, note: object) -> Complaint:
    """Shared by the API and the form: validate, then move the complaint (409 for a move the workflow forbids)."""
    if not isinstance(status, str) or not status:
        raise json_error(400, "status", f"missing; use one of {', '.join(STATUSES)}")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        raise json_error(400, "note", "a text of at most 2000 characters")
    if status not in STATUSES:
        raise json_error(400, "status", f"unknown status {status[:40]!r}; use one of {', '.join(STATUSES)}")
    try:
        return await set_status(request.app[RUNTIME_KEY], complaint, status, request[USER_KEY].username,
                                note or None)
    except (TransitionError, ComplaintConflict) as exc:
        raise json_error(409, "status", str(exc).split(": ", 1)[1]) from None


async def status_json(request: web.Request) -> web.StreamResponse:
    """POST /api/complaints/{id}/status {"status", "note"?}"""
    complaint = await scoped_complaint(request, UPDATE)
    body = await read_json(request, 64 * 1024)
    if not isinstance(body, dict):
        raise json_error(400, "body", "expected a JSON object")
    updated = await change_status(request, complaint, body.get("status"), body.get("note"))
    return web.json_response(await complaint_detail(request, updated))


async def relink_json(request: web.Request) -> web.StreamResponse:
    """POST /api/complaints/{id}/relink: link cameras and events added since (audited)."""
    complaint = await scoped_complaint(request, UPDATE)
    try:
        result = await relink(request.app[RUNTIME_KEY], complaint, request[USER_KEY].username)
    except CatalogError as exc:
        raise json_error(409, "status", str(exc).split(": ", 1)[-1]) from None
    out = await complaint_detail(request, result.complaint)
    return web.json_response({**out, "added": {"cameras": [c.camera for c in result.cameras],
                                               "events": result.events}})


async def photo(request: web.Request) -> web.StreamResponse:
    """GET /api/complaints/{id}/photo"""
    complaint = await scoped_complaint(request)
    found = await request.app[RUNTIME_KEY].catalog.complaint_photo(complaint.id)
    if found is None:
        raise json_error(404, None, "this complaint has no photo")
    return web.Response(body=found[1], content_type=found[0], headers={"Cache-Control": "private, max-age=3600"})


async def start_export(request: web.Request, complaint: Complaint, reason: object) -> Any:
    """Queue an evidence export of the complaint's linked footage the user may export (its window on each camera)."""
    from nvr.web.routes.exports import scope as export_scope
    from nvr.web.routes.exports import service

    if not allowed(request, EXPORT):
        raise json_error(403, None, f"not allowed: {EXPORT}")
    runtime = request.app[RUNTIME_KEY]
    known = await export_scope(request)
    links = [c for c in await runtime.catalog.complaint_cameras(complaint.id) if c.camera in known]
    with_footage = [c for c in links if await runtime.catalog.segments(c.camera, c.start_us, c.end_us)]
    if not with_footage:
        raise json_error(422, "cameras", "no linked camera has footage in the complaint's window")
    start, end = min(c.start_us for c in with_footage), max(c.end_us for c in with_footage)
    text = reason if isinstance(reason, str) and reason.strip() else f"evidence for complaint {complaint.external_id}"
    max_us = int(runtime.config.export.max_range_hours * 3_600_000_000)
    try:
        req = validate_request([c.camera for c in with_footage], start, end, f"complaint {complaint.external_id}",
                               text, False, known=known, max_range_us=max_us)
        job = await service(request).submit(req, request[USER_KEY].username)
    except ExportInputError as exc:
        raise json_error(exc.status if exc.status in (400, 404, 422) else 400, exc.field,
                         str(exc).split(": ", 1)[-1]) from None
    await runtime.catalog.audit(request[USER_KEY].username, "complaint.export", f"complaint:{complaint.id}",
                                {"export": job.id, "cameras": list(job.cameras)})
    return job


async def export_json(request: web.Request) -> web.StreamResponse:
    """POST /api/complaints/{id}/export {"reason"?} -> 202 and the export job's link."""
    complaint = await scoped_complaint(request)
    body = await read_json(request, 64 * 1024)
    if not isinstance(body, dict):
        raise json_error(400, "body", "expected a JSON object")
    job = await start_export(request, complaint, body.get("reason"))
    return web.json_response({"export": job.id, "cameras": list(job.cameras), "start_us": job.start_us,
                              "end_us": job.end_us, "job": f"/api/exports/{job.id}"}, status=202,
                             headers={"Location": f"/api/exports/{job.id}"})


def routes() -> list[web.RouteDef]:
    return [
        web.post("/api/complaints", intake_json),
        web.get("/api/complaints", list_json),
        web.get("/api/complaints/{id}", detail_json),
        web.post("/api/complaints/{id}/status", status_json),
        web.post("/api/complaints/{id}/relink", relink_json),
        web.post("/api/complaints/{id}/export", export_json),
        web.get("/api/complaints/{id}/photo", photo),
    ]
