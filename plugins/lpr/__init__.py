"""Built-in plugin: licence-plate recognition (read, normalise, vote, store, watchlist alerts) on chosen cameras."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pydantic import BaseModel

from nvr.hookspecs import hookimpl

from .config import LprConfig

if TYPE_CHECKING:
    from aiohttp import web

    from nvr.config import CameraConfig
    from nvr.detection import AnalysedFrame, Detection
    from nvr.models import User
    from nvr.runtime import Runtime

    from .service import LprService

__all__ = ["LprConfig", "config_models", "frame_detections", "permission", "service_of", "shutdown", "startup",
           "web_routes"]

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


@hookimpl
def config_models() -> dict[str, type[BaseModel]]:
    return {"lpr": LprConfig}


@hookimpl
async def startup(runtime: Runtime) -> None:
    if _config(runtime).cameras:
        await _start(runtime)  # a missing model raises PluginError naming the file: logged, nvr runs on


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
        # cameras added by a reload: load the models now (once; a failure is logged, not retried)
        task = asyncio.get_running_loop().create_task(_start(runtime), name="lpr-start")
        runtime.extras[STARTING_KEY] = task
        task.add_done_callback(lambda t: t.cancelled() or t.exception() is None or log.error(
            "lpr: cannot start: %s", t.exception()))


@hookimpl
def web_routes(runtime: Runtime) -> list[web.RouteDef]:
    from .api import routes

    return routes()


@hookimpl
def permission(user: User, action: str, camera: CameraConfig | None, runtime: Runtime) -> bool | None:
    """Allow this plugin's actions by role and scope; no opinion on anything else (so admins keep them all)."""
    if action not in MIN_ROLE:
        return None
    from nvr.web.permissions import ROLE_RANK, in_scope

    if ROLE_RANK.get(user.role, -1) < ROLE_RANK[MIN_ROLE[action]]:
        return None
    return True if camera is None or in_scope(user, camera.kelurahan) else None
