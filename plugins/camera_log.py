"""Built-in plugin: write camera state changes and discovered devices to the log."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from nvr.hookspecs import hookimpl

if TYPE_CHECKING:
    from nvr.discovery import DiscoveredDevice
    from nvr.runtime import Runtime

log = logging.getLogger("nvr.cameras")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


class CameraLogConfig(BaseModel):
    """``[plugins.camera_log]``: how loudly camera events are logged."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    level: Literal["debug", "info", "warning"] = Field("info", title="Log level for state changes")
    discovered: bool = Field(True, title="Also log devices found by discovery")


def _config(runtime: Runtime) -> CameraLogConfig:
    cfg = runtime.plugin_config("camera_log")
    return cfg if isinstance(cfg, CameraLogConfig) else CameraLogConfig()


@hookimpl
def config_models() -> dict[str, type[BaseModel]]:
    return {"camera_log": CameraLogConfig}


@hookimpl
def camera_state_changed(camera: str, old: str, new: str, detail: str | None, runtime: Runtime) -> None:
    level = _LEVELS[_config(runtime).level]
    if new in ("offline", "auth_failed", "error"):
        level = max(level, logging.WARNING)
    log.log(level, "camera %s: %s -> %s%s", camera, old, new, f" ({detail})" if detail else "")


@hookimpl
def camera_discovered(device: DiscoveredDevice, runtime: Runtime) -> None:
    if _config(runtime).discovered:
        log.info(
            "discovered %s %s at %s (%s)",
            device.manufacturer or "?", device.model or "?", device.xaddr, device.state,
        )
