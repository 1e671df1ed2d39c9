"""The plugin's web routes: the kelurahan dashboard, share links (page and API), regions, delivery log."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from nvr.storage.events_catalog import EventFilter
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import allowed, require
from nvr.web.routes.scope import scoped_camera, visible_cameras
from nvr.web.templating import render

from . import shares
from .escalation import escalate_form, escalate_json, escalate_page
from .public_routes import media_of, public_routes
from .regions import scope_label, scope_matches
from .state import KelurahanState, state_of


def _state(request: web.Request) -> KelurahanState:
    state = state_of(request.app[RUNTIME_KEY])
    if state is None:
        raise web.HTTPServiceUnavailable(text="the kelurahan plugin is starting or failed to start")
    return state


def _now() -> int:
    return int(time.time() * 1e6)


async def dashboard(request: web.Request) -> web.StreamResponse:
    """GET /kelurahan: the user's cameras with live thumbnails, open events by severity, what was acknowledged."""
    require(request, "kelurahan.dashboard")
    state = _state(request)
    cameras = visible_cameras(request)
    area = request.query.get("area", "").strip() or None  # one kelurahan or kecamatan:<name> of the user's
    if area is not None:
        cameras = [c for c in cameras if scope_matches(area, state.region_of(c))]
    names = tuple(c.name for c in cameras)
    catalog = request.app[RUNTIME_KEY].catalog
    open_events = await catalog.list_events(EventFilter(cameras=names, acknowledged=False, limit=50))
    acked = await catalog.list_events(EventFilter(cameras=names, acknowledged=True, limit=20))
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    open_events.sort(key=lambda e: (order.get(e.severity, 5), -e.start_us))
    escalated: dict[int, list[Any]] = {}
    for esc in await catalog.escalations(tuple(e.id for e in open_events + acked)):
        escalated.setdefault(esc.event_id, []).append(esc)
    user = request[USER_KEY]
    return render(request, "kelurahan/dashboard.html", cameras=cameras, regions={c.name: state.region_of(c)
                                                                                for c in cameras},
                  open_events=open_events, acked=acked, escalated=escalated,
                  scope=scope_label(area or user.kelurahan), areas=_areas(state, user.kelurahan), area=area,
                  refresh=state.config.dashboard_refresh_s, can_ack=allowed(request, "event.ack"),
                  can_escalate=allowed(request, "event.escalate"))


def _areas(state: KelurahanState, scope: str | None) -> list[tuple[str, str]]:
    """(value, label) of the areas a user of all cameras may pick on the dashboard; none for scoped users."""
    if scope is not None:
        return []
    tree = state.regions.tree()
    return [(f"kecamatan:{kec}" if not kel else kel, f"Kecamatan {kec}" if not kel else f"· {kel}")
            for kota in tree.values() for kec, kels in kota.items() for kel in ["", *kels]]


async def regions_json(request: web.Request) -> web.StreamResponse:
    """GET /api/kelurahan/regions: the region tree (all-camera users) and the user's cameras with their region."""
    state = _state(request)
    user = request[USER_KEY]
    cameras = {c.name: state.region_of(c) for c in visible_cameras(request)}
    return web.json_response({
        "scope": user.kelurahan, "tree": state.regions.tree() if user.kelurahan is None else None,
        "cameras": {n: {"kelurahan": r.kelurahan, "kecamatan": r.kecamatan, "kota": r.kota, "source": r.source}
                    for n, r in cameras.items()},
        "boundaries": boundaries_status(state) if user.kelurahan is None else None,
    })


def boundaries_status(state: KelurahanState) -> dict[str, Any]:
    """The boundary file in use, how many areas it has, when it was read, and why the last reload kept it."""
    return {"file": state.boundaries_from[0], "count": len(state.boundaries),
            "loaded_at": state.boundaries_loaded_at, "error": state.boundary_error}


def _share_cameras(request: web.Request) -> tuple[str, ...] | None:
    """Cameras whose share links the user sees: every one (share.manage, all cameras), else those they may share."""
    if allowed(request, "share.manage") and request[USER_KEY].kelurahan is None:
        return None
    return tuple(c.name for c in visible_cameras(request) if allowed(request, "share.create", c))


async def shares_json(request: web.Request) -> web.StreamResponse:
    """GET /api/kelurahan/shares: share links of the user's cameras, newest first."""
    require(request, "share.create")
    state = _state(request)
    found = await request.app[RUNTIME_KEY].catalog.list_shares(_share_cameras(request))
    return web.json_response({"shares": [shares.share_json(state, s, _now()) for s in found]})


async def _create(request: web.Request, body: Any) -> Any:
    state = _state(request)
    require(request, "share.create")
    try:
        req = shares.parse_request(body, state.config.share_max_hours, state.config.clip_max_minutes)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    camera = scoped_camera(request, req.camera)
    require(request, "share.create", camera)
    share = await shares.create(state, req, request[USER_KEY].username)
    if share.kind == "clip" and share.start_us is not None and share.end_us is not None:
        media_of(state)[1].start(share.id, share.camera, share.start_us, share.end_us)  # ready when opened
    await request.app[RUNTIME_KEY].catalog.audit(request[USER_KEY].username, "share.create", f"share:{share.id}",
                                                 {"camera": share.camera, "kind": share.kind,
                                                  "expires_at": share.expires_at})
    return share


async def create_share_json(request: web.Request) -> web.StreamResponse:
    """POST /api/kelurahan/shares {"camera", "kind": live|clip, "hours", "start_us", "end_us", "label"}."""
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body: not JSON") from None
    share = await _create(request, body)
    return web.json_response(shares.share_json(_state(request), share, _now()), status=201)


async def _revoke(request: web.Request) -> Any:
    state = _state(request)
    require(request, "share.create")
    try:
        share_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such share link") from None
    share = await request.app[RUNTIME_KEY].catalog.get_share(share_id)
    visible = _share_cameras(request)
    if share is None or (visible is not None and share.camera not in visible):
        raise web.HTTPNotFound(text="no such share link")
    share = await shares.revoke(state, share_id, request[USER_KEY].username)
    _, clips = media_of(state)
    await asyncio.to_thread(clips.forget, None, share.id)  # its public clip goes with it
    await request.app[RUNTIME_KEY].catalog.audit(request[USER_KEY].username, "share.revoke", f"share:{share.id}",
                                                 {"camera": share.camera})
    return share


async def revoke_share_json(request: web.Request) -> web.StreamResponse:
    """DELETE /api/kelurahan/shares/{id}: revoke a share link (idempotent)."""
    return web.json_response(shares.share_json(_state(request), await _revoke(request), _now()))


async def shares_page(request: web.Request, error: str | None = None) -> web.StreamResponse:
    """GET /kelurahan/shares?camera=&kind=&start_us=&end_us=: every share link the user may manage, with its use
    count; revoke; and the form to create one (filled from the query, e.g. an event's clip)."""
    require(request, "share.create")
    state = _state(request)
    found = await request.app[RUNTIME_KEY].catalog.list_shares(_share_cameras(request))
    deliveries = (await request.app[RUNTIME_KEY].catalog.list_deliveries(limit=50)
                  if allowed(request, "share.manage") and request[USER_KEY].kelurahan is None else [])
    cameras = [c for c in visible_cameras(request) if allowed(request, "share.create", c)]
    return render(request, "kelurahan/shares.html", shares=[shares.share_json(state, s, _now()) for s in found],
                  cameras=cameras, public=[c.name for c in cameras if state.is_public(c.name)], deliveries=deliveries,
                  max_hours=state.config.share_max_hours, error=error, status=400 if error else 200,
                  prefill={k: request.query.get(k, "") for k in ("camera", "kind", "start_us", "end_us")})


async def create_share_form(request: web.Request) -> web.StreamResponse:
    """POST /kelurahan/shares (form): create, then back to the list."""
    form = await request.post()
    body: dict[str, Any] = {k: form.get(k) for k in ("camera", "kind", "hours", "label") if form.get(k)}
    for field in ("start_us", "end_us"):
        if form.get(field):
            body[field] = form.get(field)
    try:
        await _create(request, body)
    except web.HTTPBadRequest as exc:
        return await shares_page(request, error=exc.text)
    raise web.HTTPSeeOther("/kelurahan/shares")


async def revoke_share_form(request: web.Request) -> web.StreamResponse:
    """POST /kelurahan/shares/{id}/revoke (form)."""
    await _revoke(request)
    raise web.HTTPSeeOther("/kelurahan/shares")


async def deliveries_json(request: web.Request) -> web.StreamResponse:
    """GET /api/kelurahan/deliveries?webhook=: the webhook delivery log (admins of all cameras)."""
    require(request, "share.manage")
    if request[USER_KEY].kelurahan is not None:
        raise web.HTTPForbidden(text="the delivery log spans every kelurahan")
    found = await request.app[RUNTIME_KEY].catalog.list_deliveries(request.query.get("webhook") or None)
    return web.json_response({"deliveries": [
        {"id": d.id, "webhook": d.webhook, "kind": d.kind, "event_id": d.event_id, "state": d.state,
         "attempts": d.attempts, "last_status": d.last_status, "last_error": d.last_error,
         "created_at": d.created_at, "updated_at": d.updated_at, "delivered_at": d.delivered_at} for d in found]})


def admin_fragment(state: KelurahanState | None, user: Any, runtime: Any) -> str | None:
    """The admin page's section (``web_fragment`` slot ``admin``): where share links are managed, which cameras
    are public (those in the admin's scope)."""
    from markupsafe import escape

    from nvr.web.permissions import camera_in_scope, decide

    if state is None or not decide(runtime, user, "share.create"):
        return None
    public = [c.name for c in runtime.config.cameras
              if state.is_public(c.name) and (user.kelurahan is None or camera_in_scope(runtime, user, c))]
    listed = ", ".join(f'<a href="/public/cameras/{escape(n)}">{escape(n)}</a>' for n in public) or "none"
    problem = ""
    if state.boundary_error is not None and user.kelurahan is None:
        problem = (f'<p class="error" id="kelurahan-boundaries">Boundaries not reloaded (the previous '
                   f'{len(state.boundaries)} areas stay in use): {escape(state.boundary_error)}</p>')
    return ('<h2>Sharing (kelurahan)</h2><p><a href="/kelurahan/shares">Share links</a>: create, see their use, '
            f'revoke. Public cameras (config <code>public_cameras</code>): {listed}.</p>{problem}')


def routes() -> list[web.RouteDef]:
    return [
        web.get("/kelurahan", dashboard),
        web.get("/kelurahan/shares", shares_page),
        web.post("/kelurahan/shares", create_share_form),
        web.post("/kelurahan/shares/{id}/revoke", revoke_share_form),
        web.get("/api/kelurahan/regions", regions_json),
        web.post("/api/kelurahan/events/{id}/escalate", escalate_json),
        web.get("/kelurahan/events/{id}/escalate", escalate_page),
        web.post("/kelurahan/events/{id}/escalate", escalate_form),
        web.get("/api/kelurahan/shares", shares_json),
        web.post("/api/kelurahan/shares", create_share_json),
        web.delete("/api/kelurahan/shares/{id}", revoke_share_json),
        web.get("/api/kelurahan/deliveries", deliveries_json),
        *public_routes(),
    ]
