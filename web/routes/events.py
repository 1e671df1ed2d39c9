"""Events as JSON and their snapshots, scoped to the cameras the user may see."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from nvr.models import Event
from nvr.storage.events_catalog import EventFilter
from nvr.web import query_params as qp
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import allowed
from nvr.web.routes.scope import visible_cameras
from nvr.web.templating import fragments, render

MAX_LIMIT = 500


def _visible_cameras(request: web.Request) -> tuple[str, ...]:
    return tuple(c.name for c in visible_cameras(request))


_CATALOG_NAMES = web.AppKey("events.catalog_names", dict)
"""The running config object's id -> (that config, whether every camera the catalog knows is configured)."""


async def _sees_every_catalog_camera(request: web.Request, visible: int) -> bool:
    """Whether the ``visible`` cameras (a count of the configured ones the user sees) are every camera the catalog
    has events of (then listing needs no camera filter).

    The catalog's camera names change only when the running config does (cameras are added to the catalog
    when they are applied), so whether they are all configured is worked out once per config.
    """
    runtime = request.app[RUNTIME_KEY]
    config = runtime.config
    if visible != len(config.cameras):  # the user sees a subset of the configured cameras: not all of them
        return False
    cache = request.app[_CATALOG_NAMES]
    known = cache.get(id(config))
    if known is None or known[0] is not config:
        names = {c.name for c in await runtime.catalog.list_cameras()}
        cache.clear()
        known = cache[id(config)] = (config, names <= {c.name for c in config.cameras})
    return known[1]


def _is_visible(request: web.Request, camera: str) -> bool:
    config = request.app[RUNTIME_KEY].config.camera(camera)
    return config is not None and any(c is config for c in visible_cameras(request))


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


async def events_json(request: web.Request) -> web.StreamResponse:
    """GET /api/events?camera=&label=&kind=&zone=&start_us=&end_us=&ongoing=&acknowledged=&before_id=&limit="""
    where = await _filter(request)
    events = await request.app[RUNTIME_KEY].catalog.list_events(where)
    return web.json_response({"events": [event_json(e) for e in events],
                              **qp.cursor_json(request, where.limit, events[-1].id if events else None, len(events))})


async def _scoped_event(request: web.Request) -> Event:
    try:
        event_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such event") from None
    event = await request.app[RUNTIME_KEY].catalog.get_event(event_id)
    if event is None or not _is_visible(request, event.camera):
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


def _time(request: web.Request, us: str, field: str) -> int | None:
    """``start_us``/``end_us`` (the API's UTC µs), else the page's ``from``/``to`` date and time (UTC)."""
    value = qp.integer(request, us)
    return value if value is not None else qp.moment(request, field)


async def _filter(request: web.Request) -> EventFilter:
    visible: tuple[str, ...] | None = None  # no camera filter: an IN over 1,500 names costs the catalog ~1 ms
    camera = qp.text(request, "camera")
    if camera:
        if not _is_visible(request, camera):
            raise web.HTTPNotFound(text=f"camera: no camera named {camera!r}")
        visible = (camera,)
    elif not await _sees_every_catalog_camera(request, len(visible_cameras(request))):
        visible = _visible_cameras(request)
    return EventFilter(
        cameras=visible, label=qp.text(request, "label"), kind=qp.text(request, "kind"), zone=qp.text(request, "zone"),
        start_us=_time(request, "start_us", "from"), end_us=_time(request, "end_us", "to"),
        ongoing=qp.boolean(request, "ongoing"), acknowledged=qp.boolean(request, "acknowledged"),
        before_id=qp.integer(request, "before_id", 1), limit=qp.limit(request, 100, MAX_LIMIT),
    )


async def events_page(request: web.Request) -> web.StreamResponse:
    """GET /events: the same filters as the API, newest first, with snapshots and acknowledgement."""
    where = await _filter(request)
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
    app[_CATALOG_NAMES] = {}
    app.router.add_get("/events", events_page)
    app.router.add_get("/events/{id}", event_page)
    app.router.add_post("/events/{id}/ack", acknowledge_form)
    app.router.add_post("/api/events/{id}/ack", acknowledge_json)
    app.router.add_get("/api/events", events_json)
    app.router.add_get("/api/events/{id}", event_detail_json)
    app.router.add_get("/api/events/{id}/snapshot.jpg", event_snapshot)
