"""A cluster node (``nvr run --node NAME``): record exactly the configured cameras whose leases it holds.

Every node reads the same config and the same PostgreSQL catalog. The node's
``LeaseManager`` decides which cameras it holds; ``NodeRecorder`` keeps the
camera registry's workers equal to that set (``CameraRegistry.apply`` with
the held subset, so the recorders themselves are untouched). A camera handed
back is stopped, its last segments indexed, and only then is its lease
released; on a clean stop every lease goes back at once, so other nodes take
over within one renew interval instead of one lease TTL.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from nvr.camera_worker import CameraStatus
from nvr.cameras import ChangeSummary
from nvr.config import CameraConfig
from nvr.errors import NvrError
from nvr.leases import LeaseManager
from nvr.storage.postgres_leases import LeaseStore

if TYPE_CHECKING:
    from nvr.runtime import Runtime
    from nvr.storage.catalog import Catalog

__all__ = ["NodeRecorder", "join_catalog"]

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 5.0
"""How long a handed-back camera's last segments may take to reach the catalog before its lease goes."""


async def join_catalog(catalog: Catalog, node: str) -> None:
    """Tell the catalog which node this process is, before start-up recovery reads it."""
    set_node = getattr(catalog, "set_node", None)
    if set_node is None:
        raise NvrError(f"nvr run --node {node}: the nodes share one PostgreSQL catalog; "
                       'set [catalog] url = "postgresql://..." (docs/operations.md)')
    await set_node(node)


class NodeRecorder:
    """Starts and stops this node's camera workers as its leases come and go."""

    def __init__(self, runtime: Runtime, node: str):
        self._runtime = runtime
        self.node = node
        config = runtime.config
        self._settings = config.cluster.node(node)
        self._configured: list[CameraConfig] = []
        store = LeaseStore(config.catalog_url, node, self._settings.capacity,
                           int(config.cluster.lease_ttl_s * 1_000_000))
        self.leases = LeaseManager(store, config.cluster.renew_interval_s, self._names, self._on_held,
                                   self._on_release)
        self._lock = asyncio.Lock()

    def _names(self) -> list[str]:
        return [c.name for c in self._configured]

    def _pins(self, cameras: list[CameraConfig]) -> dict[str, str | None]:
        pins = self._runtime.config.cluster.pins()
        names = {c.name for c in cameras}
        unknown = sorted(set(pins) - names)
        if unknown:
            log.warning("[cluster.nodes] pins cameras that are not configured: %s", unknown)
        return {c.name: pins.get(c.name) for c in cameras}

    async def _upsert(self, cameras: list[CameraConfig]) -> None:
        for cam in cameras:  # every node knows every camera, whether it records it or not
            await self._runtime.catalog.upsert_camera(
                cam.name, kelurahan=cam.kelurahan, kecamatan=cam.kecamatan,
                lat=cam.location.lat if cam.location else None, lon=cam.location.lon if cam.location else None)

    async def start(self, cameras: list[CameraConfig]) -> None:
        """Join the cluster with the configured cameras; recording starts with the first leases taken."""
        self._configured = list(cameras)
        await self._upsert(cameras)
        await self.leases.start(self._settings.url, self._pins(cameras))
        log.info("node %s joined (capacity %d, %d camera(s) configured)", self.node, self._settings.capacity,
                 len(cameras))

    async def advertise(self, url: str) -> None:
        """Publish the web server's URL for the internal footage API, unless the config names one."""
        if self._settings.url is None:
            await self.leases.set_url(url)

    async def apply(self, cameras: list[CameraConfig]) -> ChangeSummary:
        """A config reload: cameras gone from the config are marked removed, new ones get leases."""
        gone = sorted({c.name for c in self._configured} - {c.name for c in cameras})
        self._configured = list(cameras)
        for name in gone:
            await self._runtime.catalog.mark_camera_removed(name)
        await self._upsert(cameras)
        await self.leases.sync(self._pins(cameras))
        summary = await self._record(self.leases.held)
        self.leases.poke()
        return summary

    async def _record(self, held: dict[str, int] | set[str]) -> ChangeSummary:
        registry = self._runtime.cameras
        assert registry is not None
        async with self._lock:
            return await registry.apply([c for c in self._configured if c.name in held], mark_removed=False)

    async def _on_held(self, held: dict[str, int]) -> None:
        await self._record(held)
        await self._show_elsewhere(held)

    async def _show_elsewhere(self, held: dict[str, int]) -> None:
        """Give the UI a status for each configured camera another node records (or none does yet)."""
        registry = self._runtime.cameras
        if registry is None:
            return
        holders = await self._runtime.catalog.camera_holders()
        registry.elsewhere = {
            c.name: CameraStatus(name=c.name, title=c.display_name, state="elsewhere",
                                 detail=f"recorded by node {node}" if node else "waiting for a node to record it",
                                 kelurahan=c.kelurahan, kecamatan=c.kecamatan, recording=node is not None)
            for c in self._configured if c.name not in held for node in [holders.get(c.name, (None, 0))[0]]}

    async def _on_release(self, names: list[str]) -> None:
        await self._record(set(self.leases.held) - set(names))
        await self._drain()

    async def _drain(self) -> None:
        indexer = self._runtime.indexer
        if indexer is None:
            return
        try:
            async with asyncio.timeout(DRAIN_TIMEOUT_S):
                await indexer.drained()
        except TimeoutError:
            log.warning("node %s: segments still queued after %.0f s; handing the leases back anyway",
                        self.node, DRAIN_TIMEOUT_S)

    @property
    def held(self) -> list[str]:
        """Cameras whose leases this node holds now."""
        return sorted(self.leases.held)

    async def stop(self) -> None:
        """Stop recording, index what is queued, then hand every lease back and mark the node stopped."""
        registry = self._runtime.cameras
        if registry is not None:
            async with self._lock:
                await registry.stop_all()
        await self._drain()
        await self.leases.stop(release=True)
