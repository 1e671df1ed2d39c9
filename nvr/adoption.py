"""Adopting discovered ONVIF devices: stored in the catalog, merged into the running camera list, recorded at once.

An adopted camera is a ``CameraConfig`` built from what discovery learned (ONVIF address, stream URIs without
credentials) and the ``[discovery]`` username and password (the ones that answered). The config file's
cameras come first and win any clash of name or ONVIF address; adopted ones follow in adoption order, at
start-up (``with_adopted``), after a reload, and right after ``adopt`` (no restart).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING

from pydantic import ValidationError

from nvr.config import CAMERA_NAME_PATTERN, CameraConfig, DiscoveryConfig, LoadedConfig, OnvifConfig, StreamConfig
from nvr.errors import CatalogError, PluginError
from nvr.onvif_client import strip_credentials
from nvr.storage.adopted_catalog import AdoptedCamera

if TYPE_CHECKING:
    from nvr.discovery import DiscoveredDevice
    from nvr.runtime import Runtime
    from nvr.storage.catalog import Catalog

log = logging.getLogger(__name__)

LOCK_KEY = "adoption.lock"
"""``runtime.extras`` key of the lock that makes adoptions one at a time."""


class AdoptionError(ValueError):
    """A refused adoption: ``str()`` is "field: what is wrong"; ``status`` the HTTP status it maps to."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.status = field, status


def camera_config(adopted: AdoptedCamera, discovery: DiscoveryConfig) -> CameraConfig:
    """The camera an adopted device records as (credentials from ``[discovery]``, never stored)."""
    return CameraConfig(
        name=adopted.name, title=adopted.title, kelurahan=adopted.kelurahan, kecamatan=adopted.kecamatan,
        onvif=OnvifConfig(host=adopted.onvif_host, port=adopted.onvif_port, username=discovery.username,
                          password=discovery.password),
        stream=StreamConfig(main=adopted.main_uri, sub=adopted.sub_uri),
    )


def merged(loaded: LoadedConfig, adopted: list[AdoptedCamera]) -> LoadedConfig:
    """``loaded`` with the adopted cameras after the config file's (a clash keeps the file's camera)."""
    config = loaded.config
    names = {c.name for c in config.cameras}
    hosts = {(c.onvif.host, c.onvif.port) for c in config.cameras if c.onvif}
    extra: list[CameraConfig] = []
    for item in adopted:
        if item.name in names or (item.onvif_host, item.onvif_port) in hosts:
            log.warning("adopted camera %s is also in the config file: the config file's camera is used", item.name)
            continue
        try:
            extra.append(camera_config(item, config.discovery))
        except ValidationError as exc:
            log.error("adopted camera %s is not usable and is skipped: %s", item.name, exc.errors()[0]["msg"])
            continue
        names.add(item.name)
    if not extra:
        return loaded
    return LoadedConfig(config.model_copy(update={"cameras": [*config.cameras, *extra]}), loaded.plugin_configs,
                        loaded.path)


async def with_adopted(loaded: LoadedConfig, catalog: Catalog) -> LoadedConfig:
    """``merged`` with the catalog's adopted cameras (start-up and reload)."""
    return merged(loaded, await catalog.list_adopted_cameras())


def device_key(device: DiscoveredDevice) -> str:
    """How a discovered device is named in forms and the API (``DiscoveryService.devices`` uses the same key)."""
    return device.endpoint or device.xaddr


def is_known(runtime: Runtime, device: DiscoveredDevice) -> bool:
    """Whether the device already records (config file or adopted), by ONVIF address."""
    return any(c.onvif is not None and (c.onvif.host, c.onvif.port) == (device.host, device.port)
               for c in runtime.config.cameras)


def _suggested_name(device: DiscoveredDevice) -> str:
    base = re.sub(r"[^a-z0-9_-]+", "-", (device.name or f"{device.model or 'camera'}-{device.port}").lower())
    return base.strip("-_")[:64] or "camera"


def suggested_name(runtime: Runtime, device: DiscoveredDevice) -> str:
    """A free camera name made from the device's announced name."""
    base, taken = _suggested_name(device), {c.name for c in runtime.config.cameras}
    name, n = base, 2
    while name in taken:
        name, n = f"{base[:60]}-{n}", n + 1
    return name


async def adopt(runtime: Runtime, key: str, name: str, *, by: str, title: str | None = None,
                kelurahan: str | None = None, kecamatan: str | None = None) -> CameraConfig:
    """Adopt the discovered device ``key`` as camera ``name``: store it, then start recording it now."""
    lock = runtime.extras.setdefault(LOCK_KEY, asyncio.Lock())
    async with lock:
        discovery = runtime.discovery
        device = discovery.devices.get(key) if discovery is not None else None
        if device is None:
            raise AdoptionError("device", "no discovered device with this id (run a discovery sweep first)", 404)
        if device.state != "ok" or not device.main_uri:
            raise AdoptionError("device", f"the device cannot be recorded: {device.state}"
                                          f"{': ' + device.error if device.error else ''}", 422)
        if is_known(runtime, device):
            raise AdoptionError("device", "this device records already", 409)
        if not re.fullmatch(CAMERA_NAME_PATTERN, name or ""):
            raise AdoptionError("name", "1-64 characters: a-z, 0-9, _ and -, starting with a letter or digit")
        if runtime.config.camera(name) is not None:
            raise AdoptionError("name", f"a camera named {name!r} exists already", 409)
        adopted = AdoptedCamera(
            name=name, onvif_host=device.host, onvif_port=device.port,
            main_uri=strip_credentials(device.main_uri) or "",
            sub_uri=strip_credentials(device.sub_uri), title=title or device.name, endpoint=device.endpoint,
            kelurahan=kelurahan, kecamatan=kecamatan, manufacturer=device.manufacturer, model=device.model,
            serial=device.serial, adopted_by=by)
        try:
            camera = camera_config(adopted, runtime.config.discovery)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise AdoptionError(str(err["loc"][0]) if err["loc"] else "device", err["msg"]) from None
        try:
            await runtime.catalog.add_adopted_camera(adopted)
        except CatalogError as exc:
            raise AdoptionError("name", str(exc), 409) from None
        await apply_cameras(runtime, merged(runtime.loaded, [adopted]))
        log.info("camera %s adopted by %s (ONVIF %s:%d)", name, by, device.host, device.port)
        return camera


async def apply_cameras(runtime: Runtime, loaded: LoadedConfig) -> None:
    """Make ``loaded`` the running config and start what it adds (as a reload would)."""
    runtime.loaded = loaded
    if runtime.cameras is not None:
        await runtime.cameras.apply(loaded.config.cameras)
    if runtime.analysis is not None:
        try:
            await runtime.analysis.apply(loaded.config.cameras)
        except PluginError as exc:
            log.error("analysis not reconfigured: %s", exc)
    if runtime.retention is not None:
        runtime.retention.reconfigure()


async def forget(runtime: Runtime, name: str) -> AdoptedCamera:
    """Forget the adopted camera ``name``: it stops recording now (its footage stays, as for a camera removed from
    the config); a camera of the config file with that name keeps running."""
    lock = runtime.extras.setdefault(LOCK_KEY, asyncio.Lock())
    async with lock:
        try:
            removed = await runtime.catalog.remove_adopted_camera(name)
        except CatalogError:
            raise AdoptionError("name", f"no adopted camera named {name!r}", 404) from None
        running = runtime.config.camera(name)
        try:
            adopted_config = camera_config(removed, runtime.config.discovery)
        except ValidationError:
            adopted_config = None
        if running is not None and running == adopted_config:
            config = runtime.config
            kept = [c for c in config.cameras if c is not running]
            await apply_cameras(runtime, LoadedConfig(config.model_copy(update={"cameras": kept}),
                                                      runtime.loaded.plugin_configs, runtime.loaded.path))
        log.info("adopted camera %s forgotten", name)
        return removed
