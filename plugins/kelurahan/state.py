"""The plugin's per-server state: its config, the regions of cameras (cached per config), the share-link key."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvr.config import CameraConfig

from .config import KelurahanConfig
from .geo import Boundary, BoundaryError, load_boundaries
from .regions import Region, Regions

if TYPE_CHECKING:
    from nvr.runtime import Runtime

log = logging.getLogger(__name__)

STATE_KEY = "kelurahan"
PLUGIN_NAME = "kelurahan"
HEALTH_HOOK = "kelurahan boundaries"
"""Shown as the failing "hook" in the plugin status while the boundary file last read could not be used."""
SHARE_KEY_META = "kelurahan.share_key"
"""Catalog meta key of the random share-link key used when the config sets no ``share_secret``."""


class KelurahanState:
    """Lives in ``runtime.extras["kelurahan"]`` from ``startup`` to ``shutdown``."""

    def __init__(self, runtime: Runtime, boundaries: list[Boundary], share_key: bytes) -> None:
        self.runtime = runtime
        self.boundaries = boundaries
        self.boundaries_from: tuple[str | None, str] = (config_of(runtime).boundaries,
                                                        config_of(runtime).boundary_property)
        """The file and name property the boundaries in use were read from."""
        self.boundaries_loaded_at: float = time.time()
        self.boundary_error: str | None = None
        """Why the last reload kept the previous boundaries (the file and the reason), or None."""
        self.share_key = share_key
        self._cache: tuple[int, Regions, dict[str, Region]] | None = None
        self._areas_of: int | None = None
        self.services: dict[str, Any] = {}
        """Lazily started helpers (the face blurrer, the notifier), by name."""

    @property
    def config(self) -> KelurahanConfig:
        return config_of(self.runtime)

    def _regions(self) -> tuple[Regions, dict[str, Region]]:
        config = self.runtime.config
        if self._cache is None or self._cache[0] != id(config):
            regions = Regions(self.config, self.boundaries)
            self._cache = (id(config), regions, regions.resolve(config.cameras))
        return self._cache[1], self._cache[2]

    @property
    def regions(self) -> Regions:
        return self._regions()[0]

    def region_of(self, camera: CameraConfig) -> Region:
        """The camera's region (cached per loaded config; a camera unknown to it is resolved now)."""
        found = self._regions()[1].get(camera.name)
        return found if found is not None else self.regions.region(camera)

    def sync_areas(self) -> None:
        """Publish, for nvr's default permission rule, the region of every camera whose config leaves it out
        (``nvr.web.permissions.AREAS_KEY``): a dict lookup per camera instead of a permission hook per camera.
        Cheap when the config has not changed since the last call."""
        from nvr.web.permissions import AREAS_KEY

        config = self.runtime.config
        if self._areas_of == id(config):
            return
        areas = {}
        for camera in config.cameras:
            region = self.region_of(camera)
            if region.kelurahan is not None and (camera.kelurahan is None or camera.kecamatan is None):
                areas[camera.name] = (region.kelurahan, region.kecamatan)
        self.runtime.extras[AREAS_KEY] = areas
        self._areas_of = id(config)

    async def reload(self) -> bool:
        """After a config reload (SIGHUP): read the boundary file again (a thread) and place the cameras anew. A file
        that cannot be used keeps the previous boundaries; the error (naming the file and the reason) is logged
        and shown as the plugin's health until a reload succeeds. True when the new boundaries are in use."""
        config = self.config
        try:
            boundaries = await asyncio.to_thread(load_boundaries, Path(config.boundaries),
                                                 config.boundary_property) if config.boundaries else []
        except BoundaryError as exc:
            self.boundary_error = str(exc)
            log.error("kelurahan: boundaries not reloaded, keeping the previous %d: %s", len(self.boundaries), exc)
            self._health(f"BoundaryError: {exc}")
            ok = False
        else:
            self.boundaries, self.boundary_error = boundaries, None
            self.boundaries_from = (config.boundaries, config.boundary_property)
            self.boundaries_loaded_at = time.time()
            log.info("kelurahan: %d boundaries loaded from %s", len(boundaries), config.boundaries or "(none)")
            self._health(None)
            ok = True
        self._cache = None  # the region tree and the boundaries may both have changed
        self._areas_of = None
        self.sync_areas()
        return ok

    def _health(self, reason: str | None) -> None:
        status = self.runtime.plugins.status.get(PLUGIN_NAME)
        if status is None:
            return
        if reason is not None:
            status.errors += 1
            status.last_error, status.last_error_hook, status.last_error_at = reason, HEALTH_HOOK, time.time()
        elif status.last_error_hook == HEALTH_HOOK:
            status.last_error = status.last_error_hook = None

    def is_public(self, camera: str) -> bool:
        return camera in self.config.public_cameras


def config_of(runtime: Runtime) -> KelurahanConfig:
    cfg = runtime.plugin_config("kelurahan")
    return cfg if isinstance(cfg, KelurahanConfig) else KelurahanConfig()


async def start_state(runtime: Runtime) -> KelurahanState:
    """Load the boundaries (in a thread) and the share key (config, else the catalog, else a new random one)."""
    config = config_of(runtime)
    boundaries: list[Boundary] = []
    if config.boundaries:
        boundaries = await asyncio.to_thread(load_boundaries, Path(config.boundaries),
                                             config.boundary_property)
    if config.share_secret is not None:
        key = config.share_secret.get_secret_value().encode()
    else:
        stored = await runtime.catalog.get_meta(SHARE_KEY_META)
        if stored is None:
            stored = secrets.token_hex(32)
            await runtime.catalog.set_meta(SHARE_KEY_META, stored)
        key = bytes.fromhex(stored)
    return KelurahanState(runtime, boundaries, key)


def state_of(runtime: Runtime) -> KelurahanState | None:
    return runtime.extras.get(STATE_KEY)
