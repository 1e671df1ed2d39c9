"""The plates search page (``/plates``) and its navigation item: the plate API's search as a form, with crops
and links to the recording moment; delivered through the web hooks, scoped like every page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from nvr.web import query_params as qp
from nvr.web.keys import RUNTIME_KEY
from nvr.web.nav import NavItem
from nvr.web.permissions import decide, require
from nvr.web.templating import plugin_template, render

from .api import VIEW, _cameras, next_before, plate_query, search

if TYPE_CHECKING:
    from nvr.models import User
    from nvr.runtime import Runtime

TEMPLATE = Path(__file__).parent / "templates" / "plates.html"
PAGE_SIZE = 50
FIELDS = ("q", "mode", "max_distance", "camera", "start", "end", "min_confidence")


def nav(user: User, runtime: Runtime) -> list[NavItem]:
    """"Plates" in the header for users who may search plates (operators and above)."""
    return [NavItem("Plates", "/plates", 35)] if decide(runtime, user, VIEW) else []


def _day(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).date().isoformat()


async def plates_page(request: web.Request) -> web.StreamResponse:
    """GET /plates?q=&mode=&max_distance=&camera=&start=&end=&min_confidence=&before_id="""
    require(request, VIEW)
    chosen = {k: request.query.get(k, "") for k in FIELDS}
    error, status, found, query = None, 200, [], None
    try:
        query = plate_query(request, qp.moment(request, "start"), qp.moment(request, "end"), PAGE_SIZE)
        found = await search(request, query)
    except (web.HTTPBadRequest, web.HTTPNotFound) as exc:
        error, status = exc.text, exc.status
    cursor = next_before(query, found) if query is not None and len(found) >= PAGE_SIZE else None
    runtime = request.app[RUNTIME_KEY]
    titles = {c.name: c.display_name for c in runtime.config.cameras}
    return render(request, plugin_template(request, TEMPLATE), status=status, sightings=found, chosen=chosen,
                  query={k: v for k, v in chosen.items() if v}, cameras=_cameras(request), titles=titles,
                  day=_day, error=error, next_before=cursor, searched=bool(chosen["q"]))


def routes() -> list[web.RouteDef]:
    return [web.get("/plates", plates_page)]
