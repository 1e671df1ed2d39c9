"""Built-in plugin: kelurahan sharing (regions, scoped roles, public cameras and share links with face blur,
the kelurahan dashboard, escalation to agencies, per-kelurahan webhooks)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from pydantic import BaseModel

from nvr.hookspecs import hookimpl
from nvr.web.permissions import for_actions  # declared actions keep camera listings free of this hook

from .access import MIN_ROLE, plugin_permission
from .config import KelurahanConfig
from .state import STATE_KEY, start_state, state_of

if TYPE_CHECKING:
    from aiohttp import web

    from nvr.config import CameraConfig
    from nvr.models import Event, User
    from nvr.runtime import Runtime
    from nvr.web.nav import NavItem

__all__ = ["KelurahanConfig", "camera_state_changed", "config_models", "config_reloaded", "event_started",
           "event_updated", "kelurahan_notification", "permission", "shutdown", "startup", "web_fragment", "web_nav",
           "web_routes"]

log = logging.getLogger(__name__)



def _now_us() -> int:
    return time.time_ns() // 1000


@hookimpl
def config_models() -> dict[str, type[BaseModel]]:
    return {"kelurahan": KelurahanConfig}


@hookimpl
async def startup(runtime: Runtime) -> None:
    runtime.extras[STATE_KEY] = state = await start_state(runtime)
    state.sync_areas()  # cameras placed by location or by the region tree, for nvr's scope rule
    from .notify import Notifier

    state.services["notifier"] = notifier = Notifier(runtime)
    from .public_routes import media_of

    now = _now_us()
    live = {s.id for s in await runtime.catalog.list_shares(limit=100_000) if s.live(now)}
    await asyncio.to_thread(media_of(state)[1].forget, live)  # public clips of expired or revoked links
    if state.config.webhooks:  # deliveries a stopped server was still trying
        resumed = notifier.resume(list(state.config.webhooks), await runtime.catalog.pending_deliveries())
        if resumed:
            log.info("kelurahan: resuming %d webhook deliveries", resumed)


@hookimpl
async def shutdown(runtime: Runtime) -> None:
    state = runtime.extras.pop(STATE_KEY, None)
    from nvr.web.permissions import AREAS_KEY

    runtime.extras.pop(AREAS_KEY, None)
    if state is not None:
        for service in state.services.values():
            close = getattr(service, "close", None)
            if close is not None:
                await close()


@hookimpl
@for_actions(*MIN_ROLE)
def permission(user: User, action: str, camera: CameraConfig | None, runtime: Runtime) -> bool | None:
    return plugin_permission(state_of(runtime), user, action, camera)


@hookimpl
def web_routes(runtime: Runtime) -> list[web.RouteDef]:
    from .routes import routes

    return routes()


@hookimpl
def camera_state_changed(camera: str, old: str, new: str, runtime: Runtime) -> None:
    state = state_of(runtime)
    if state is not None and new in ("starting", "removed"):  # a reload changed the cameras
        state.sync_areas()


@hookimpl
def web_nav(user: User, runtime: Runtime) -> list[NavItem]:
    from nvr.web.nav import NavItem
    from nvr.web.permissions import decide

    state = state_of(runtime)
    if state is not None:
        state.sync_areas()  # after a reload of [plugins.kelurahan] (an id comparison otherwise)

    items = [NavItem("Kelurahan", "/kelurahan", 15)] if decide(runtime, user, "kelurahan.dashboard") else []
    if decide(runtime, user, "share.create"):
        items.append(NavItem("Share links", "/kelurahan/shares", 75))
    return items


@hookimpl
def web_fragment(slot: str, context: object, user: User, runtime: Runtime) -> str | None:
    from nvr.web.permissions import decide

    if slot == "admin":
        from .routes import admin_fragment

        return admin_fragment(state_of(runtime), user, runtime)
    if slot != "event":
        return None
    from .escalation import event_fragment

    camera = runtime.config.camera(getattr(context, "camera", ""))
    return event_fragment(context, camera is not None and decide(runtime, user, "event.escalate", camera),
                          camera is not None and decide(runtime, user, "share.create", camera))


@hookimpl
def event_started(event: Event, runtime: Runtime) -> None:
    state = state_of(runtime)
    if state is not None and "notifier" in state.services:
        state.services["notifier"].event(event, runtime)


@hookimpl
async def event_updated(event: Event, runtime: Runtime) -> None:
    """A rise of the event's severity above every level notified for it is notified again (``severity_raised``)."""
    state = state_of(runtime)
    if state is not None and "notifier" in state.services:
        await state.services["notifier"].updated(event, runtime)


@hookimpl
async def config_reloaded(runtime: Runtime) -> None:
    """SIGHUP: read the boundary file again and place the cameras anew (a bad file keeps the old boundaries)."""
    state = state_of(runtime)
    if state is not None:
        await state.reload()


@hookimpl
def kelurahan_notification(notification: object, runtime: Runtime) -> None:
    """The built-in delivery: this plugin's own ``[[plugins.kelurahan.webhooks]]``."""
    state = state_of(runtime)
    if state is not None and "notifier" in state.services and state.config.webhooks:
        state.services["notifier"].deliver_all(notification, list(state.config.webhooks))
