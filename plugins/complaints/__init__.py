"""Built-in plugin: citizen complaints linked to nearby footage (held as evidence), routed to an agency, with an SLA."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pydantic import BaseModel

from nvr.hookspecs import hookimpl
from nvr.web.nav import NavItem
from nvr.web.permissions import for_actions

from .access import KELURAHAN_ROLES, MIN_ROLE, UNSCOPED_ONLY, VIEW, role_allows
from .config import ComplaintsConfig

if TYPE_CHECKING:
    from aiohttp import web

    from nvr.config import CameraConfig
    from nvr.models import Event, User
    from nvr.runtime import Runtime

__all__ = ["ComplaintsConfig", "camera_state_changed", "config_models", "event_ended", "permission", "shutdown",
           "startup", "web_fragment", "web_nav", "web_routes"]

log = logging.getLogger(__name__)

KNOWN_KEY = "complaints.cameras"
"""``runtime.extras``: camera names known at the last linking; a new one re-links open complaints."""
TASKS_KEY = "complaints.tasks"


def _spawn(runtime: Runtime, coro: object, name: str) -> None:
    """Run re-linking in the background (hooks come from the event loop and must stay cheap)."""
    tasks: set[asyncio.Task] = runtime.extras.setdefault(TASKS_KEY, set())
    task = asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]
    tasks.add(task)

    def done(t: asyncio.Task) -> None:
        tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("complaints: %s failed: %s", name, t.exception())

    task.add_done_callback(done)


@hookimpl
def config_models() -> dict[str, type[BaseModel]]:
    return {"complaints": ComplaintsConfig}


@hookimpl
def startup(runtime: Runtime) -> None:
    from .fragments import INDEX_KEY, ComplaintIndex, load_index

    runtime.extras[KNOWN_KEY] = {c.name for c in runtime.config.cameras}
    runtime.extras[INDEX_KEY] = ComplaintIndex()
    _spawn(runtime, load_index(runtime), "complaints-index")


@hookimpl
async def shutdown(runtime: Runtime) -> None:
    tasks = runtime.extras.pop(TASKS_KEY, set())
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


@hookimpl
def camera_state_changed(camera: str, old: str, new: str, detail: str | None, runtime: Runtime) -> None:
    """A camera nvr did not know when it started (added by a reload): re-link the open complaints."""
    known: set[str] | None = runtime.extras.get(KNOWN_KEY)
    if known is None or camera in known or new == "removed":
        return
    known.add(camera)
    from .service import relink_open

    config = runtime.config.camera(camera)
    if config is None or config.location is None:
        return  # a camera without a position is never linked
    near = (config.location.lat, config.location.lon)
    _spawn(runtime, relink_open(runtime, near=near), f"complaints-relink-{camera}")


@hookimpl
def event_ended(event: Event, runtime: Runtime) -> None:
    """An event of a kind some category links (fire, smoke, crowd, water...): link it to open complaints around."""
    from .service import config_of, relink_open

    config = config_of(runtime)
    categories = [c for c in (config.category(n) for n in config.category_names()) if c is not None]
    if not any(event.kind in c.event_kinds or event.label in c.event_kinds for c in categories):
        return
    longest = max(max(c.before_min, c.after_min) for c in categories) * 60_000_000
    start, end = event.footage
    _spawn(runtime, relink_open(runtime, int(start - longest), int(end + longest) + 1), f"complaints-event-{event.id}")


@hookimpl
def web_routes(runtime: Runtime) -> list[web.RouteDef]:
    from .api import routes
    from .pages import routes as page_routes

    return routes() + page_routes()


@hookimpl
def web_fragment(slot: str, context: object, user: User, runtime: Runtime) -> str | None:
    """Open complaints linked to the camera (camera page) or to the event (event page) that the user may see."""
    from nvr.web.permissions import decide

    from .access import scope_kelurahans
    from .fragments import index_of, render
    from .service import config_of

    index = index_of(runtime)
    if index is None or slot not in ("camera", "event"):
        return None
    found = index.of_camera(getattr(context, "name", "")) if slot == "camera" else \
        index.of_event(getattr(context, "id", -1))
    if not found or not decide(runtime, user, VIEW):
        return None
    config, scope = config_of(runtime), scope_kelurahans(runtime, user)
    return render(runtime, user, found, config.response_days, config.amber_days,
                  None if scope is None else set(scope))


@hookimpl
def web_nav(user: User, runtime: Runtime) -> list[NavItem]:
    from nvr.web.permissions import decide

    return [NavItem("Complaints", "/complaints", 35)] if decide(runtime, user, VIEW) else []


@hookimpl
@for_actions(*MIN_ROLE)  # asked only about these (never once per camera for camera.view)
def permission(user: User, action: str, camera: CameraConfig | None, runtime: Runtime) -> bool | None:
    """Allow this plugin's actions by role (and, for intake and reporters, only to users of every kelurahan)."""
    if action not in MIN_ROLE:
        return None
    if action in UNSCOPED_ONLY and (user.kelurahan is not None or user.role in KELURAHAN_ROLES):
        return False  # not even a kelurahan's admin: intake is city-wide, reporters are confidential
    return True if role_allows(user, action) else None

