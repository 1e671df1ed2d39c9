"""Built-in plugin: licence-plate recognition (read, normalise, vote, store, watchlist alerts) on chosen cameras."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pydantic import BaseModel

from nvr.hookspecs import hookimpl
from nvr.web.permissions import for_actions

from .config import LprConfig

if TYPE_CHECKING:
    from aiohttp import web

    from nvr.config import CameraConfig
    from nvr.detection import AnalysedFrame, Detection
    from nvr.models import User
    from nvr.runtime import Runtime
    from nvr.web.nav import NavItem

    from .service import LprService

__all__ = ["LprConfig", "config_models", "frame_detections", "permission", "service_of", "shutdown", "startup",
           "web_nav", "web_routes"]

log = logging.getLogger(__name__)

SERVICE_KEY = "lpr"
STARTING_KEY = "lpr.starting"
MIN_ROLE = {"plates.view": "operator", "plates.watchlist": "investigator"}
"""The least role of this plugin's actions (plate data is personal data: viewers do not see it)."""


def _config(runtime: Runtime) -> LprConfig:
    cfg = runtime.plugin_config("lpr")
    return cfg if isinstance(cfg, LprConfig) else LprConfig()


def service_of(runtime: Runtime) -> LprService | None:
    """The running plate service, or None (no plate camera, or the models failed to load)."""
    return runtime.extras.get(SERVICE_KEY)


async def _start(runtime: Runtime) -> None:
    from .service import LprService  # openvino and the models load only when a camera reads plates

    runtime.extras[SERVICE_KEY] = await LprService.start(runtime, _config(runtime))


def _start_in_background(runtime: Runtime) -> None:
    """Load the models without holding up start-up (compiling them takes seconds, more on a busy machine);
    frames that come before are not read. A failure (a missing model names its file) is logged and shown
    in the plugin's health; nvr runs on without plates."""
    task = asyncio.get_running_loop().create_task(_start(runtime), name="lpr-start")
    runtime.extras[STARTING_KEY] = task

    def done(t: asyncio.Task[None]) -> None:
        if not t.cancelled() and t.exception() is not None:
            runtime.plugins.report_error("lpr", "startup", t.exception())  # type: ignore[arg-type]

    task.add_done_callback(done)


@hookimpl
def config_models() -> dict[str, type[BaseModel]]:
    return {"lpr": LprConfig}


@hookimpl
async def startup(runtime: Runtime) -> None:
    if _config(runtime).cameras:
        _start_in_background(runtime)


@hookimpl
async def shutdown(runtime: Runtime) -> None:
    starting = runtime.extras.pop(STARTING_KEY, None)
    if starting is not None:
        await asyncio.gather(starting, return_exceptions=True)
    service = runtime.extras.pop(SERVICE_KEY, None)
    if service is not None:
        await service.stop()


@hookimpl
def frame_detections(camera: str, time_us: int, detections: list[Detection], frame: AnalysedFrame,
                     runtime: Runtime) -> None:
    service = service_of(runtime)
    if service is not None:
        service.submit(frame)
    elif camera in _config(runtime).cameras and STARTING_KEY not in runtime.extras:
        _start_in_background(runtime)  # cameras added by a reload (once; a failure is logged, not retried)


@hookimpl
def web_routes(runtime: Runtime) -> list[web.RouteDef]:
    from . import api, page

    return api.routes() + page.routes()


@hookimpl
def web_nav(user: User, runtime: Runtime) -> list[NavItem]:
    from .page import nav

    return nav(user, runtime)


@hookimpl
@for_actions(*MIN_ROLE)  # asked about these actions only: camera lists never call it
def permission(user: User, action: str, camera: CameraConfig | None, runtime: Runtime) -> bool | None:
    """Allow this plugin's actions by role and scope; no opinion on anything else (so admins keep them all)."""
    if action not in MIN_ROLE:
        return None
    from nvr.web.permissions import ROLE_RANK, camera_in_scope

    if ROLE_RANK.get(user.role, -1) < ROLE_RANK[MIN_ROLE[action]]:
        return None
    return True if camera is None or camera_in_scope(runtime, user, camera) else None
