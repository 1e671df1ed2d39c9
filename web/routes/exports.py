"""Export API: start and follow export jobs, fetch bundles, stream any range as one MP4, the signing key, audit."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from aiohttp import web

from nvr.export_boxes import MediaError
from nvr.export_clip import ClipBuilder
from nvr.export_manifest import iso
from nvr.export_pipe import ahead_async
from nvr.export_plan import ExportInputError, parse_time, plan_camera, validate_request
from nvr.export_service import ExportService
from nvr.footage_remote import RemoteFootageError, footage_root
from nvr.storage.exports_catalog import ExportJob
from nvr.web import query_params as qp
from nvr.web.api_errors import error_body
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import allowed, in_scope
from nvr.web.routes.scope import cameras_for

log = logging.getLogger(__name__)

EXPORT, DOWNLOAD = "footage.export", "footage.download"
"""Permission actions (``nvr.web.permissions``): start and fetch exports; stream footage."""
EXPORTS_KEY = "exports"
"""``runtime.extras`` key of the running ``ExportService``."""
CHUNK = 256 * 1024
MAX_GAP_HEADER = 50
"""Gaps listed in the ``X-NVR-Gaps`` header (``X-NVR-Gap-Count`` has them all)."""


def service(request: web.Request) -> ExportService:
    svc = request.app[RUNTIME_KEY].extras.get(EXPORTS_KEY)
    if svc is None:
        raise web.HTTPServiceUnavailable(text="exports are not running")
    return svc


def json_error(status: int, message: str, **extra: Any) -> web.HTTPException:
    """``{error, field, status}`` like every API error (``field`` from a "field: ..." message)."""
    cls = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict,
           422: web.HTTPUnprocessableEntity}.get(status, web.HTTPInternalServerError)
    body = {**error_body(status, message), **extra}
    return cls(text=json.dumps(body), content_type="application/json")


def need(request: web.Request, action: str) -> None:
    """403 unless the user may do ``action`` at all (``footage.export``, ``footage.download``, ``admin``)."""
    if not allowed(request, action):
        if request.path.startswith("/api/"):
            raise json_error(403, f"not allowed: {action}")
        raise web.HTTPForbidden(text=f"this page needs the permission {action} (the investigator role)")


async def scope(request: web.Request, action: str = EXPORT) -> dict[str, str | None]:
    """Camera name → kelurahan of every camera the user may do ``action`` on.

    Configured cameras go through the permission checks (plugins included);
    cameras that left the config but still have footage in the catalog follow
    the default rule (role and kelurahan), so their footage stays exportable.
    """
    runtime = request.app[RUNTIME_KEY]
    configured = {c.name for c in runtime.config.cameras}
    permitted = {c.name: c.kelurahan for c in cameras_for(request, action)}
    areas = {c.name: c.kelurahan for c in await runtime.catalog.list_cameras()}
    out: dict[str, str | None] = {}
    may_act = None
    for name in sorted(set(areas) | configured):
        if name in configured:
            if name in permitted:
                out[name] = permitted[name]
            continue
        if may_act is None:
            may_act = allowed(request, action)
        if may_act and in_scope(request[USER_KEY], areas[name]):
            out[name] = areas[name]
    return out


def job_json(job: ExportJob, svc: ExportService) -> dict[str, Any]:
    return {
        "id": job.id, "state": job.state, "cameras": list(job.cameras),
        "start": iso(job.start_us), "end": iso(job.end_us), "start_us": job.start_us, "end_us": job.end_us,
        "case": job.case, "reason": job.reason, "created_by": job.created_by, "created_at": iso(job.created_at),
        "finished_at": iso(job.finished_at) if job.finished_at else None, "attempts": job.attempts,
        "hold": job.hold, "holds": list(job.hold_ids), "progress": svc.job_summary(job), "error": job.error,
        "result": job.result, "bundle": f"/api/exports/{job.id}/bundle.zip" if job.state == "done" else None,
    }


async def scoped_job(request: web.Request) -> ExportJob:
    """The job in the URL, if every one of its cameras is in the user's scope (else 404)."""
    try:
        job_id = int(request.match_info["id"])
    except ValueError:
        raise json_error(404, "no such export") from None
    job = await request.app[RUNTIME_KEY].catalog.get_export_job(job_id)
    visible = await scope(request)
    if job is None or any(c not in visible for c in job.cameras):
        raise json_error(404, "no such export")
    return job


async def create(request: web.Request, body: dict[str, Any]) -> ExportJob:
    """Validate and queue an export for the requesting user (shared by the API and the form)."""
    runtime = request.app[RUNTIME_KEY]
    max_us = int(runtime.config.export.max_range_hours * 3_600_000_000)
    req = validate_request(body.get("cameras"), body.get("start"), body.get("end"), body.get("case"),
                           body.get("reason"), body.get("hold", False), known=await scope(request), max_range_us=max_us)
    return await service(request).submit(req, request[USER_KEY].username)


async def create_json(request: web.Request) -> web.StreamResponse:
    """POST /api/exports {cameras, start, end, case, reason, hold} → 202 with the job."""
    need(request, EXPORT)
    try:
        body = await request.json()
    except ValueError:
        raise json_error(400, "body: not JSON") from None
    if not isinstance(body, dict):
        raise json_error(400, "body: expected a JSON object")
    try:
        job = await create(request, body)
    except ExportInputError as exc:
        raise json_error(exc.status, str(exc), field=exc.field) from None
    return web.json_response(job_json(job, service(request)), status=202,
                             headers={"Location": f"/api/exports/{job.id}"})


async def list_json(request: web.Request) -> web.StreamResponse:
    """GET /api/exports: the newest jobs the user may see."""
    need(request, EXPORT)
    svc, visible = service(request), await scope(request)
    limit, before = qp.limit(request, 100, 200), qp.integer(request, "before_id", 1)
    jobs = await request.app[RUNTIME_KEY].catalog.list_export_jobs(limit, before)
    last = jobs[-1].id if jobs else None  # the cursor moves past jobs of other kelurahan too
    return web.json_response({"exports": [job_json(j, svc) for j in jobs if all(c in visible for c in j.cameras)],
                              **qp.cursor_json(request, limit, last, len(jobs))})


async def detail_json(request: web.Request) -> web.StreamResponse:
    """GET /api/exports/{id}: one job and its progress."""
    need(request, EXPORT)
    return web.json_response(job_json(await scoped_job(request), service(request)))


async def bundle(request: web.Request) -> web.StreamResponse:
    """GET /api/exports/{id}/bundle.zip (audited)."""
    need(request, EXPORT)
    job = await scoped_job(request)
    if job.state != "done":
        raise json_error(409, f"export {job.id} is {job.state}, not done", state=job.state)
    path = (job.result or {}).get("bundle") or job.output_path
    await request.app[RUNTIME_KEY].catalog.audit(request[USER_KEY].username, "export.download", f"export:{job.id}",
                                                 {"bundle": path, "remote": request.remote})
    name = path.rsplit("/", 1)[-1]
    return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                           "Content-Type": "application/zip"})


async def download(request: web.Request) -> web.StreamResponse:
    """GET /api/cameras/{name}/download.mp4?start=&end=: one MP4 built while it is sent (audited)."""
    return await _stream(request, DOWNLOAD, play=False)


async def play(request: web.Request) -> web.StreamResponse:
    """GET /api/cameras/{name}/play.mp4?start=&end=: the same MP4 for the browser's player (viewers; audited).

    Where the video format changes inside the range, the part that holds ``start`` is played.
    """
    return await _stream(request, "camera.view", play=True)


async def _stream(request: web.Request, action: str, *, play: bool) -> web.StreamResponse:
    runtime = request.app[RUNTIME_KEY]
    name = request.match_info["name"]
    visible = await scope(request, "camera.view")
    if name not in visible:
        raise json_error(404, f"no camera named {name!r}")
    if name not in await scope(request, action):
        raise json_error(403, f"not allowed: {action}")
    try:
        start, end = parse_time(request.query.get("start"), "start"), parse_time(request.query.get("end"), "end")
        if end <= start:
            raise ExportInputError("end", "must be after start")
        if end - start > runtime.config.export.max_range_hours * 3_600_000_000:
            raise ExportInputError("end", f"the range is longer than the configured maximum of "
                                          f"{runtime.config.export.max_range_hours:g} h")
        root = await footage_root(runtime.catalog, runtime.config, [name], start, end)  # other nodes' too
        plan = await plan_camera(runtime.catalog, root, name, start, end)
    except ExportInputError as exc:
        raise json_error(exc.status, str(exc), field=exc.field) from None
    except RemoteFootageError as exc:
        raise json_error(502, str(exc)) from None
    except MediaError as exc:
        raise json_error(500, f"cannot read the footage: {exc}") from None
    if play:
        plan = dataclasses.replace(plan, clips=[next((c for c in plan.clips if c.end_us > start), plan.clips[0])])
    if len(plan.clips) > 1:
        parts = [{"start": iso(c.start_us), "end": iso(c.end_us),
                  "url": f"/api/cameras/{name}/download.mp4?start={c.start_us}&end={c.end_us}"} for c in plan.clips]
        raise json_error(409, "the video format changes inside this range; download each part, or export it",
                         parts=parts)
    clip = plan.clips[0]
    await runtime.catalog.audit(request[USER_KEY].username, "footage.play" if play else "footage.download",
                                f"camera:{name}", {
        "start_us": start, "end_us": end, "gaps": len(plan.gaps), "segments": [s.id for s in clip.segments],
        "remote": request.remote})
    response = web.StreamResponse(headers={
        "Content-Type": "video/mp4",
        "Content-Disposition": f'{"inline" if play else "attachment"}; filename="{clip.name}"',
        "Cache-Control": "no-store", "X-NVR-Gap-Count": str(len(plan.gaps)),
        "X-NVR-Gaps": json.dumps([[s, e] for s, e in plan.gaps[:MAX_GAP_HEADER]])})
    response.enable_chunked_encoding()
    await response.prepare(request)
    buffered: list[bytes | memoryview] = []
    size, first = 0, True
    try:
        async for piece in ahead_async(ClipBuilder(clip, root, mfra=False)):
            buffered.append(piece)
            size += len(piece)
            if size >= CHUNK or first:  # the MP4 header goes out at once, then about 256 KB at a time
                await response.write(b"".join(buffered))
                buffered, size, first = [], 0, False
    except MediaError as exc:  # the status is sent already: cut the response so the client sees it incomplete
        log.error("download of %s %s..%s stopped: %s", name, start, end, exc)
        raise
    if buffered:
        await response.write(b"".join(buffered))
    await response.write_eof()
    return response


async def signing_key(request: web.Request) -> web.StreamResponse:
    """GET /api/keys/export: the public key bundles are signed with, and its fingerprint (any user: it is public)."""
    key = await service(request).load_key()
    return web.json_response({"algorithm": "Ed25519", "fingerprint": key.fingerprint,
                              "public_key_pem": key.public_pem.decode()})


async def audit_json(request: web.Request) -> web.StreamResponse:
    """GET /api/audit?action=&target=&before_id=&limit=: the audit log, newest first (admins of all cameras)."""
    if request[USER_KEY].kelurahan is not None:
        raise json_error(403, "the audit log spans every kelurahan: it needs an admin of all cameras")
    need(request, "admin")
    limit, before = qp.limit(request, 100, 1000), qp.integer(request, "before_id", 1)
    entries = await request.app[RUNTIME_KEY].catalog.audit_entries(
        limit, before, qp.text(request, "action"), qp.text(request, "target"))
    return web.json_response({"entries": [
        {"id": e.id, "at": iso(e.at), "at_us": e.at, "actor": e.actor, "action": e.action, "target": e.target,
         "detail": e.detail} for e in entries], **qp.cursor_json(request, limit, entries[-1].id if entries else None,
                                                                 len(entries))})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/exports", create_json)
    app.router.add_get("/api/exports", list_json)
    app.router.add_get("/api/exports/{id}", detail_json)
    app.router.add_get("/api/exports/{id}/bundle.zip", bundle)
    app.router.add_get("/api/cameras/{name}/download.mp4", download)
    app.router.add_get("/api/cameras/{name}/play.mp4", play)
    app.router.add_get("/api/keys/export", signing_key)
    app.router.add_get("/api/audit", audit_json)
