"""Events as JSON and their snapshots, scoped to the cameras the user may see."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from nvr.models import Event
from nvr.storage.events_catalog import EventFilter
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import allowed
from nvr.web.routes.scope import visible_cameras
from nvr.web.templating import fragments, render

MAX_LIMIT = 500


def _visible_cameras(request: web.Request) -> tuple[str, ...]:
    return tuple(c.name for c in visible_cameras(request))


def event_json(event: Event) -> dict[str, Any]:
    start, end = event.footage
    return {
        "id": event.id, "camera": event.camera, "kind": event.kind, "label": event.label,
        "score": round(event.score, 4), "start_us": event.start_us, "end_us": event.end_us,
        "ongoing": event.ongoing, "track_id": event.track_id, "box": list(event.box) if event.box else None,
        "zones": list(event.zones), "severity": event.severity, "agency": event.agency, "rule": event.rule,
        "footage": {"start_us": start, "end_us": end},
        "snapshot": f"/api/events/{event.id}/snapshot.jpg" if event.has_snapshot else None,
        "acknowledged": None if event.acknowledged_at is None else {
            "at_us": event.acknowledged_at, "by": event.acknowledged_by, "note": event.ack_note},
    }


def _int(request: web.Request, name: str, minimum: int = 0) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: not an integer: {raw!r}") from None
    if value < minimum:
        raise web.HTTPBadRequest(text=f"{name}: must be at least {minimum}")
    return value


def _bool(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in ("true", "false"):
        raise web.HTTPBadRequest(text=f"{name}: use true or false, not {raw!r}")
    return raw == "true"


async def events_json(request: web.Request) -> web.StreamResponse:
    """GET /api/events?camera=&label=&kind=&zone=&start_us=&end_us=&ongoing=&acknowledged=&before_id=&limit="""
    events = await request.app[RUNTIME_KEY].catalog.list_events(_filter(request))
    return web.json_response({"events": [event_json(e) for e in events]})


async def _scoped_event(request: web.Request) -> Event:
    try:
        event_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such event") from None
    event = await request.app[RUNTIME_KEY].catalog.get_event(event_id)
    if event is None or event.camera not in _visible_cameras(request):
        raise web.HTTPNotFound(text="no such event")  # another kelurahan's event does not exist for this user
    return event


async def event_page(request: web.Request) -> web.StreamResponse:
    """GET /events/{id}: the event, its snapshot, and its clip (pre- and post-roll included)."""
    event = await _scoped_event(request)
    camera = request.app[RUNTIME_KEY].config.camera(event.camera)
    start, end = event.footage
    return render(request, "event.html", event=event, camera=camera, clip_start=start, clip_end=end,
                  can_ack=allowed(request, "event.ack", camera),
                  can_download=allowed(request, "footage.download", camera),
                  fragments=fragments(request, "event", event))


async def event_detail_json(request: web.Request) -> web.StreamResponse:
    """GET /api/events/{id}"""
    return web.json_response(event_json(await _scoped_event(request)))


async def event_snapshot(request: web.Request) -> web.StreamResponse:
    """GET /api/events/{id}/snapshot.jpg"""
    event = await _scoped_event(request)
    jpeg = await request.app[RUNTIME_KEY].catalog.event_snapshot(event.id)
    if jpeg is None:
        raise web.HTTPNotFound(text="this event has no snapshot")
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


def _filter(request: web.Request) -> EventFilter:
    visible = _visible_cameras(request)
    camera = request.query.get("camera")
    if camera:
        if camera not in visible:
            raise web.HTTPNotFound(text=f"camera: no camera named {camera!r}")
        visible = (camera,)
    limit = _int(request, "limit", 1)
    return EventFilter(
        cameras=visible, label=request.query.get("label") or None, kind=request.query.get("kind") or None,
        zone=request.query.get("zone") or None, start_us=_int(request, "start_us"), end_us=_int(request, "end_us"),
        ongoing=_bool(request, "ongoing"), acknowledged=_bool(request, "acknowledged"),
        before_id=_int(request, "before_id", 1), limit=min(limit or 100, MAX_LIMIT),
    )


async def events_page(request: web.Request) -> web.StreamResponse:
    """GET /events: the same filters as the API, newest first, with snapshots and acknowledgement."""
    where = _filter(request)
    events = await request.app[RUNTIME_KEY].catalog.list_events(where)
    query = {k: v for k, v in request.query.items() if v and k != "before_id"}
    can_ack = allowed(request, "event.ack")
    return render(request, "events.html", events=events, query=query, cameras=_visible_cameras(request),
                  can_ack=can_ack, next_before=events[-1].id if len(events) == where.limit else None)


async def _acknowledge(request: web.Request, note: str | None) -> Event:
    user = request[USER_KEY]
    event = await _scoped_event(request)
    camera = request.app[RUNTIME_KEY].config.camera(event.camera)
    if not allowed(request, "event.ack", camera):
        raise web.HTTPForbidden(text="acknowledging events needs the operator role")
    if note is not None and len(note) > 2000:
        raise web.HTTPBadRequest(text="note: at most 2000 characters")
    return await request.app[RUNTIME_KEY].catalog.acknowledge_event(
        event.id, user.username, note or None, int(time.time() * 1_000_000))


async def acknowledge_json(request: web.Request) -> web.StreamResponse:
    """POST /api/events/{id}/ack {"note": "..."} (X-CSRF-Token header from a browser session)."""
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        raise web.HTTPBadRequest(text="body: not JSON") from None
    note = body.get("note") if isinstance(body, dict) else None
    if note is not None and not isinstance(note, str):
        raise web.HTTPBadRequest(text="note: a string")
    return web.json_response(event_json(await _acknowledge(request, note)))


async def acknowledge_form(request: web.Request) -> web.StreamResponse:
    """POST /events/{id}/ack (the events page's form)."""
    form = await request.post()
    note = form.get("note")
    await _acknowledge(request, note if isinstance(note, str) else None)
    back = request.headers.get("Referer", "")
    raise web.HTTPSeeOther(back if back.startswith(str(request.url.origin()) + "/events") else "/events")


def setup(app: web.Application) -> None:
    app.router.add_get("/events", events_page)
    app.router.add_get("/events/{id}", event_page)
    app.router.add_post("/events/{id}/ack", acknowledge_form)
    app.router.add_post("/api/events/{id}/ack", acknowledge_json)
    app.router.add_get("/api/events", events_json)
    app.router.add_get("/api/events/{id}", event_detail_json)
    app.router.add_get("/api/events/{id}/snapshot.jpg", event_snapshot)
