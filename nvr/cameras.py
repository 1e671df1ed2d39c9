"""The camera registry: applies the configured camera list, one worker per camera."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nvr.camera_worker import CameraStatus, CameraWorker, RecordingContext
from nvr.config import CameraConfig

if TYPE_CHECKING:
    from nvr.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class ChangeSummary:
    """Which cameras a config apply added, removed, changed or left alone."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


class CameraRegistry:
    """Owns the camera workers; ``apply`` touches only cameras whose config changed."""

    def __init__(self, runtime: Runtime, check_interval_s: float = 30.0,
                 recording: RecordingContext | None = None):
        self._runtime = runtime
        self._recording = recording
        self._interval = check_interval_s
        self._workers: dict[str, CameraWorker] = {}
        self._order: list[str] = []
        self.elsewhere: dict[str, CameraStatus] = {}
        """A cluster node's configured cameras that another node records (state "elsewhere"; nvr.nodes)."""

    def statuses(self) -> list[CameraStatus]:
        mine = [self._workers[name].status for name in self._order]
        return mine + [s for name, s in self.elsewhere.items() if name not in self._workers]

    def status(self, name: str) -> CameraStatus | None:
        worker = self._workers.get(name)
        return worker.status if worker else self.elsewhere.get(name)

    def worker(self, name: str) -> CameraWorker | None:
        return self._workers.get(name)

    def _on_change(self, status: CameraStatus, old: str) -> None:
        self._runtime.plugins.notify(
            "camera_state_changed", camera=status.name, old=old, new=status.state,
            detail=status.detail, runtime=self._runtime,
        )

    async def apply(self, cameras: list[CameraConfig], *, mark_removed: bool = True) -> ChangeSummary:
        """Start new cameras, stop removed ones, restart changed ones; leave the rest running.

        ``mark_removed=False``: a camera stopped here may still be configured (a cluster node handed its
        lease to another node, nvr.nodes), so the catalog does not mark it removed.
        """
        summary = ChangeSummary()
        wanted = {c.name: c for c in cameras}
        for name in list(self._workers):
            if name not in wanted:
                await self._stop(name)
                summary.removed.append(name)
                if mark_removed:
                    await self._runtime.catalog.mark_camera_removed(name)
        for cam in cameras:
            current = self._workers.get(cam.name)
            if current is not None and current.config == cam:
                summary.unchanged.append(cam.name)
                continue
            if current is not None:
                await current.stop()
                summary.changed.append(cam.name)
            else:
                summary.added.append(cam.name)
            await self._runtime.catalog.upsert_camera(
                cam.name, kelurahan=cam.kelurahan, kecamatan=cam.kecamatan,
                lat=cam.location.lat if cam.location else None,
                lon=cam.location.lon if cam.location else None,
            )
            worker = CameraWorker(cam, self._on_change, self._interval, self._recording)
            self._workers[cam.name] = worker
            worker.start()
        self._order = [c.name for c in cameras]
        if summary.added or summary.removed or summary.changed:
            log.info("cameras: added %s, removed %s, changed %s",
                     summary.added or "-", summary.removed or "-", summary.changed or "-")
        return summary

    async def _stop(self, name: str) -> None:
        worker = self._workers.pop(name)
        await worker.stop()
        old = worker.status.state
        worker.status.state = "removed"
        self._on_change(worker.status, old)

    async def stop_all(self) -> None:
        for name in list(self._workers):
            await self._workers.pop(name).stop()
        self._order = []
