"""Escalating an event to its agency (OPD): the JSON API and the form page (linked from the event page)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from markupsafe import escape

from nvr.models import Event
from nvr.storage.kelurahan_catalog import Escalation
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import allowed, require
from nvr.web.templating import render

from .config import SEVERITIES
from .notify import event_notification, rank
from .state import state_of

MAX_NOTE = 2000


async def _event(request: web.Request) -> Event:
    """The event of the URL, 404 unless the user may see its camera, 403 unless they may escalate it."""
    try:
        event_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such event") from None
    runtime = request.app[RUNTIME_KEY]
    event = await runtime.catalog.get_event(event_id)
    camera = runtime.config.camera(event.camera) if event is not None else None
    if event is None or camera is None or not allowed(request, "camera.view", camera):
        raise web.HTTPNotFound(text="no such event")  # another kelurahan's event does not exist for this user
    require(request, "event.escalate", camera)
    return event


async def escalate(request: web.Request, event: Event, agency: Any, note: Any, severity: Any = None) -> Escalation:
    """Validate, record (who, when, note), audit, and notify the kelurahan_notification hook. A ``severity`` above
    the event's raises it (``event_updated`` follows, and the webhooks hear of the rise); a lower one is ignored."""
    agency = agency or event.agency
    if not isinstance(agency, str) or not agency.strip():
        raise web.HTTPBadRequest(text="agency: this event has no agency; name one")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
        raise web.HTTPBadRequest(text=f"note: text of at most {MAX_NOTE} characters")
    if severity is not None and severity not in SEVERITIES:
        raise web.HTTPBadRequest(text=f"severity: one of {', '.join(SEVERITIES)}")
    runtime, user = request.app[RUNTIME_KEY], request[USER_KEY]
    esc = await runtime.catalog.add_escalation(event.id, agency.strip()[:200], note or None, user.username,
                                               int(time.time() * 1e6))
    details: dict[str, Any] = {"agency": esc.agency}
    state = state_of(runtime)
    notifier = state.services.get("notifier") if state is not None else None
    raised = None
    if severity is not None and rank(severity) > rank(event.severity):
        if notifier is not None:
            notifier.seen(event)  # the level it had, for the rise's "previous_severity"
        raised = await runtime.catalog.update_event(event.id, severity=severity)
        details |= {"severity": severity, "previous_severity": event.severity}
    await runtime.catalog.audit(user.username, "event.escalate", f"event:{event.id}", details)
    if notifier is not None:
        notifier.send(event_notification(raised or event, runtime, "escalation", agency=esc.agency, note=esc.note,
                                         by=user.username))
    if raised is not None:
        runtime.plugins.notify("event_updated", event=raised, runtime=runtime)  # as analysis does
    return esc


async def escalate_json(request: web.Request) -> web.StreamResponse:
    """POST /api/kelurahan/events/{id}/escalate {"agency": "...", "note": "..."}: hand the event to its agency."""
    from nvr.web.routes.events import event_json

    event = await _event(request)
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        raise web.HTTPBadRequest(text="body: not JSON") from None
    body = body if isinstance(body, dict) else {}
    esc = await escalate(request, event, body.get("agency"), body.get("note"), body.get("severity"))
    return web.json_response({"id": esc.id, "event": event_json(event), "agency": esc.agency, "note": esc.note,
                              "by": esc.escalated_by, "at_us": esc.escalated_at}, status=201)


async def escalate_page(request: web.Request, error: str | None = None) -> web.StreamResponse:
    """GET /kelurahan/events/{id}/escalate: the form, with the event's earlier escalations."""
    event = await _event(request)
    earlier = await request.app[RUNTIME_KEY].catalog.escalations((event.id,))
    return render(request, "kelurahan/escalate.html", status=400 if error else 200, event=event, earlier=earlier,
                  error=error)


async def escalate_form(request: web.Request) -> web.StreamResponse:
    """POST /kelurahan/events/{id}/escalate (form: agency, note): record it, then back to the event."""
    event = await _event(request)
    form = await request.post()
    try:
        await escalate(request, event, str(form.get("agency") or "") or None, str(form.get("note") or "") or None,
                       str(form.get("severity") or "") or None)
    except web.HTTPBadRequest as exc:
        return await escalate_page(request, error=exc.text)
    raise web.HTTPSeeOther(f"/events/{event.id}")


def event_fragment(event: Event, can_escalate: bool, can_share: bool) -> str | None:
    """The links on the event page (``web_fragment`` slot ``event``): escalate it, share its clip."""
    from urllib.parse import urlencode

    links = []
    if can_escalate:
        links.append(f'<a class="button" href="/kelurahan/events/{int(event.id)}/escalate">Escalate to the agency</a>')
    if can_share:
        start, end = event.footage
        query = urlencode({"camera": event.camera, "kind": "clip", "start_us": start, "end_us": end})
        links.append(f'<a class="button" href="/kelurahan/shares?{escape(query)}">Share this clip (faces blurred)</a>')
    return f"<p>{' '.join(links)}</p>" if links else None
