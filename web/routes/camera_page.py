"""One camera: its page (live picture, day timeline, playback, events) and the timeline as JSON."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

from aiohttp import web

from nvr.clock import utc_us
from nvr.storage.events_catalog import EventFilter
from nvr.web import query_params as qp
from nvr.web.keys import RUNTIME_KEY
from nvr.web.routes.events import event_json
from nvr.web.routes.scope import scoped_camera
from nvr.web.templating import fragments, render

MAX_TIMELINE_US = 7 * 24 * 3600 * 1_000_000
"""The longest window one timeline request may ask for."""
MAX_TIMELINE_EVENTS = 2000


def _day(request: web.Request) -> date:
    raw = qp.text(request, "day")
    if not raw:
        return datetime.now(timezone.utc).date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"day: a date like 2026-11-22, not {raw!r}") from None


async def camera_page(request: web.Request) -> web.StreamResponse:
    """GET /cameras/{name}?day=YYYY-MM-DD"""
    camera = scoped_camera(request)
    runtime = request.app[RUNTIME_KEY]
    day = _day(request)
    start = utc_us(datetime.combine(day, datetime.min.time(), timezone.utc))
    status = runtime.cameras.status(camera.name) if runtime.cameras else None
    pipeline = runtime.analysis.cameras.get(camera.name) if runtime.analysis is not None else None
    return render(request, "camera.html", camera=camera, cam_status=status, day=day,
                  prev_day=day - timedelta(days=1), next_day=day + timedelta(days=1),
                  day_start_us=start, day_end_us=start + 24 * 3600 * 1_000_000,
                  analysis=pipeline.status() if pipeline is not None else None,
                  fragments=fragments(request, "camera", camera))


async def timeline_json(request: web.Request) -> web.StreamResponse:
    """GET /api/cameras/{name}/timeline?start_us=&end_us=: recorded spans, gaps, runs and events."""
    camera = scoped_camera(request)
    start = qp.required_integer(request, "start_us", None, "UTC microseconds")
    end = qp.required_integer(request, "end_us", None, "UTC microseconds")
    if end <= start:
        raise web.HTTPBadRequest(text="end_us: must be after start_us")
    if end - start > MAX_TIMELINE_US:
        raise web.HTTPBadRequest(text="end_us: at most 7 days after start_us")
    catalog = request.app[RUNTIME_KEY].catalog
    now = int(time.time() * 1_000_000)
    upto = min(end, now)
    gaps = await catalog.gaps(camera.name, start, upto) if upto > start else []
    covered, cursor = [], start
    for g0, g1 in gaps:
        if g0 > cursor:
            covered.append([cursor, g0])
        cursor = max(cursor, g1)
    if upto > cursor:
        covered.append([cursor, upto])
    runs = await catalog.runs_in_range(camera.name, start, end)
    events = await catalog.list_events(EventFilter(cameras=(camera.name,), start_us=start, end_us=end,
                                                   limit=MAX_TIMELINE_EVENTS))
    return web.json_response({
        "camera": camera.name, "start_us": start, "end_us": end, "now_us": now,
        "recorded": covered, "gaps": [list(g) for g in gaps],
        "runs": [{"id": r.id, "start_us": r.started_at, "end_us": r.ended_at, "reason": r.reason_ended} for r in runs],
        "events": [event_json(e) for e in reversed(events)],
    })


def setup(app: web.Application) -> None:
    app.router.add_get("/cameras/{name}", camera_page)
    app.router.add_get("/api/cameras/{name}/timeline", timeline_json)
