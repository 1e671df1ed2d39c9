"""The plate JSON API (``/api/plates``): search, a sighting, its crop, the watchlist; scoped to the user's cameras."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from nvr.clock import now_us
from nvr.errors import CatalogError
from nvr.storage.plates_catalog import PlateQuery, PlateSighting, WatchEntry
from nvr.web import query_params as qp
from nvr.web.keys import RUNTIME_KEY, USER_KEY
from nvr.web.permissions import require
from nvr.web.routes.scope import cameras_for

from .alerts import watch_entries
from .config import LprConfig, WatchConfig

VIEW = "plates.view"
"""Search sightings and see their crops (operators and above, on the cameras they may see)."""
WATCH = "plates.watchlist"
"""See and change the watchlist (investigators and above)."""
MAX_LIMIT = 500


def _config(request: web.Request) -> LprConfig:
    cfg = request.app[RUNTIME_KEY].plugin_config("lpr")
    return cfg if isinstance(cfg, LprConfig) else LprConfig()


def _cameras(request: web.Request) -> tuple[str, ...]:
    """Cameras whose sightings the user may see."""
    return tuple(c.name for c in cameras_for(request, VIEW))


def sighting_json(s: PlateSighting) -> dict[str, Any]:
    day = datetime.fromtimestamp(s.best_us / 1e6, UTC).date().isoformat()
    return {
        "id": s.id, "camera": s.camera, "plate": s.plate, "plate_key": s.plate_key,
        "confidence": round(s.confidence, 4), "reads": s.reads, "agreement": round(s.agreement, 4),
        "first_us": s.first_us, "last_us": s.last_us, "best_us": s.best_us, "track_id": s.track_id,
        "box": list(s.box) if s.box else None, "distance": s.distance,
        "alternatives": [{"plate": p, "reads": n} for p, n in s.alternatives],
        "crop": f"/api/plates/{s.id}/crop.jpg" if s.has_crop else None,
        "recording": {
            "camera": s.camera, "start_us": s.footage_start_us, "end_us": s.footage_end_us,
            "download": f"/api/cameras/{s.camera}/download.mp4?start={s.footage_start_us}&end={s.footage_end_us}",
            "page": f"/cameras/{s.camera}?day={day}&at={s.footage_start_us}",
        },
        "alert": None if s.alert_event_id is None else {
            "event_id": s.alert_event_id, "watch_plate": s.watch_plate, "event": f"/api/events/{s.alert_event_id}"},
    }


def watch_json(e: WatchEntry) -> dict[str, Any]:
    return {"id": e.id, "plate": e.plate, "reason": e.reason, "owner": e.owner, "severity": e.severity,
            "source": "config" if e.id is None else "api", "created_by": e.created_by,
            "created_at": e.created_at or None}


def plate_query(request: web.Request, start_us: int | None, end_us: int | None, limit: int) -> PlateQuery:
    """The search the query string asks for, on the cameras the user may see (an unknown camera: 404)."""
    cameras = _cameras(request)
    camera = qp.text(request, "camera")
    if camera:
        if camera not in cameras:
            raise web.HTTPNotFound(text=f"camera: no camera named {camera!r}")
        cameras = (camera,)
    text = qp.text(request, "q") or ""
    mode = qp.choice(request, "mode", ("exact", "prefix", "fuzzy"), "exact" if text else "prefix") or "exact"
    distance = qp.number(request, "max_distance", 0, 4)
    return PlateQuery(
        text=text, mode=mode, max_distance=1.0 if distance is None else distance, cameras=cameras,
        start_us=start_us, end_us=end_us, min_confidence=qp.number(request, "min_confidence", 0, 1) or 0.0,
        before_id=qp.integer(request, "before_id", 1), limit=limit)


async def search(request: web.Request, query: PlateQuery) -> list[PlateSighting]:
    """Run ``query``; a search for a plate is audited (who looked for which plate, and how many were found)."""
    runtime = request.app[RUNTIME_KEY]
    try:
        found = await runtime.catalog.search_plates(query)
    except CatalogError as exc:
        raise web.HTTPBadRequest(text=f"q: {exc}") from None
    if query.text:
        await runtime.catalog.audit(request[USER_KEY].username, "plates.search", None, {
            "q": query.text, "mode": query.mode, "cameras": list(query.cameras or ()), "results": len(found)})
    return found


def next_before(query: PlateQuery, found: list[PlateSighting]) -> int | None:
    """The keyset cursor of the next page (exact and prefix; fuzzy answers are ranked, not paged)."""
    return found[-1].id if found and query.mode != "fuzzy" else None


async def search_json(request: web.Request) -> web.StreamResponse:
    """GET /api/plates?q=&mode=&max_distance=&camera=&start_us=&end_us=&min_confidence=&before_id=&limit=

    ``mode`` is exact (the default when ``q`` is given), prefix or fuzzy; without ``q``: the newest sightings.
    """
    require(request, VIEW)
    query = plate_query(request, qp.integer(request, "start_us"), qp.integer(request, "end_us"),
                        qp.limit(request, 100, MAX_LIMIT))
    found = await search(request, query)
    return web.json_response({"sightings": [sighting_json(s) for s in found],
                              **qp.cursor_json(request, query.limit, next_before(query, found), len(found))})


async def _scoped(request: web.Request) -> PlateSighting:
    require(request, VIEW)
    try:
        sighting_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such sighting") from None
    sighting = await request.app[RUNTIME_KEY].catalog.get_plate_sighting(sighting_id)
    if sighting is None or sighting.camera not in _cameras(request):
        raise web.HTTPNotFound(text="no such sighting")  # another kelurahan's sighting does not exist here
    return sighting


async def detail_json(request: web.Request) -> web.StreamResponse:
    """GET /api/plates/{id}"""
    return web.json_response(sighting_json(await _scoped(request)))


async def crop_jpeg(request: web.Request) -> web.StreamResponse:
    """GET /api/plates/{id}/crop.jpg"""
    sighting = await _scoped(request)
    jpeg = await request.app[RUNTIME_KEY].catalog.plate_crop(sighting.id)
    if jpeg is None:
        raise web.HTTPNotFound(text="this sighting has no crop")
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


async def watchlist_json(request: web.Request) -> web.StreamResponse:
    """GET /api/plates/watchlist: the config file's entries, then those added through the API."""
    require(request, WATCH)
    stored = await request.app[RUNTIME_KEY].catalog.list_watch_entries()
    return web.json_response({"watchlist": [watch_json(e) for e in watch_entries(_config(request)) + stored]})


async def watch_add(request: web.Request) -> web.StreamResponse:
    """POST /api/plates/watchlist {"plate", "reason", "owner", "severity"?} -> 201 and the entry."""
    require(request, WATCH)
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body: not JSON") from None
    try:
        entry = WatchConfig.model_validate(body if isinstance(body, dict) else {})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "body"
        raise web.HTTPBadRequest(text=f"{field}: {err['msg']}") from None
    runtime, user = request.app[RUNTIME_KEY], request[USER_KEY]
    if any(w.plate == entry.plate for w in _config(request).watchlist):
        raise web.HTTPConflict(text=f"plate: {entry.plate} is already on the watchlist (config file)")
    try:
        stored = await runtime.catalog.add_watch_entry(entry.plate, entry.reason, entry.owner, entry.severity,
                                                       user.username, now_us(runtime.clock))
    except CatalogError as exc:
        raise web.HTTPConflict(text=f"plate: {exc}") from None
    await runtime.catalog.audit(user.username, "plates.watchlist.add", f"watch:{stored.id}",
                                {"plate": stored.plate, "reason": stored.reason, "owner": stored.owner})
    return web.json_response(watch_json(stored), status=201)


async def watch_remove(request: web.Request) -> web.StreamResponse:
    """DELETE /api/plates/watchlist/{id}"""
    require(request, WATCH)
    runtime, user = request.app[RUNTIME_KEY], request[USER_KEY]
    try:
        entry_id = int(request.match_info["id"])
        entry = await runtime.catalog.remove_watch_entry(entry_id, user.username, now_us(runtime.clock))
    except (ValueError, CatalogError):
        raise web.HTTPNotFound(text="no such watchlist entry") from None
    await runtime.catalog.audit(user.username, "plates.watchlist.remove", f"watch:{entry.id}", {"plate": entry.plate})
    return web.json_response(watch_json(entry))


async def status_json(request: web.Request) -> web.StreamResponse:
    """GET /api/plates/status: the plate reader's counters (admins)."""
    require(request, "admin")
    from . import service_of

    service = service_of(request.app[RUNTIME_KEY])
    return web.json_response({"running": service is not None, **(service.status() if service else {})})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/plates", search_json),
        web.get("/api/plates/status", status_json),
        web.get("/api/plates/watchlist", watchlist_json),
        web.post("/api/plates/watchlist", watch_add),
        web.delete("/api/plates/watchlist/{id}", watch_remove),
        web.get("/api/plates/{id}", detail_json),
        web.get("/api/plates/{id}/crop.jpg", crop_jpeg),
    ]
