"""The Exports page: jobs with their progress, a form to start one, a download form, the signing key."""

from __future__ import annotations

from datetime import timedelta, timezone
from urllib.parse import urlencode

from aiohttp import web

from nvr.export_plan import ExportInputError
from nvr.web.keys import RUNTIME_KEY
from nvr.web.routes.exports import DOWNLOAD, EXPORT, create, job_json, need, scope, service
from nvr.web.templating import render

ZONES = {"+07:00": "WIB (UTC+7)", "+08:00": "WITA (UTC+8)", "+09:00": "WIT (UTC+9)", "+00:00": "UTC"}


def _iso(local: str, zone: str, name: str) -> str:
    """A ``datetime-local`` value plus a zone from the list as ISO 8601."""
    if zone not in ZONES:
        raise ExportInputError("zone", f"choose one of {', '.join(ZONES)}")
    if not local:
        raise ExportInputError(name, "required")
    return local + (":00" if len(local) == 16 else "") + zone


async def _page(request: web.Request, status: int = 200, error: str | None = None,
                form: dict[str, str] | None = None) -> web.Response:
    svc = service(request)
    visible = await scope(request)
    jobs = [job_json(j, svc) for j in await request.app[RUNTIME_KEY].catalog.list_export_jobs(100)
            if all(c in visible for c in j.cameras)]
    key = await svc.load_key()
    wib = timezone(timedelta(hours=7))
    now = request.app[RUNTIME_KEY].clock.now().astimezone(wib).replace(second=0, microsecond=0, tzinfo=None)
    defaults = {"start": (now - timedelta(minutes=15)).isoformat(), "end": now.isoformat(), "zone": "+07:00",
                "case": "", "reason": ""}
    response = render(request, "exports.html", status=status, jobs=jobs, cameras=list(visible), zones=ZONES,
                      error=error, form={**defaults, **(form or {})}, fingerprint=key.fingerprint,
                      max_hours=request.app[RUNTIME_KEY].config.export.max_range_hours)
    if any(j["state"] in ("queued", "running") for j in jobs):
        response.headers["Refresh"] = "3"  # follow progress without scripts (the CSP allows none inline)
    return response


async def exports_page(request: web.Request) -> web.StreamResponse:
    """GET /exports"""
    need(request, EXPORT)
    return await _page(request)


async def exports_submit(request: web.Request) -> web.StreamResponse:
    """POST /exports: the form; CSRF is checked by the middleware."""
    need(request, EXPORT)
    form = await request.post()
    fields = {k: str(form.get(k, "")) for k in ("start", "end", "zone", "case", "reason")}
    try:
        body = {"cameras": [str(c) for c in form.getall("cameras", [])],
                "start": _iso(fields["start"], fields["zone"], "start"),
                "end": _iso(fields["end"], fields["zone"], "end"),
                "case": fields["case"], "reason": fields["reason"], "hold": form.get("hold") == "on"}
        await create(request, body)
    except ExportInputError as exc:
        return await _page(request, exc.status, str(exc), fields)
    raise web.HTTPSeeOther("/exports")


async def download_redirect(request: web.Request) -> web.StreamResponse:
    """GET /exports/download?camera=&start=&end=&zone=: to the streaming URL with ISO times."""
    need(request, DOWNLOAD)
    q = request.query
    try:
        start = _iso(q.get("start", ""), q.get("zone", ""), "start")
        end = _iso(q.get("end", ""), q.get("zone", ""), "end")
    except ExportInputError as exc:
        return await _page(request, 400, str(exc))
    camera = q.get("camera", "")
    if camera not in await scope(request, DOWNLOAD):
        return await _page(request, 404, f"camera: no camera named {camera!r}")
    raise web.HTTPSeeOther(f"/api/cameras/{camera}/download.mp4?" + urlencode({"start": start, "end": end}))


def setup(app: web.Application) -> None:
    app.router.add_get("/exports", exports_page)
    app.router.add_post("/exports", exports_submit)
    app.router.add_get("/exports/download", download_redirect)
