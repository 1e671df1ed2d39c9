"""Scheduled discovery: probe on an interval, report devices not in the config once."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from nvr.config import DiscoveryConfig

if TYPE_CHECKING:
    from nvr.discovery import DiscoveredDevice
    from nvr.runtime import Runtime

log = logging.getLogger(__name__)

JOB_ID = "discovery-sweep"


class DiscoveryService:
    """Runs ``nvr.discovery.discover`` on an APScheduler interval job."""

    def __init__(self, runtime: Runtime):
        self._runtime = runtime
        self._scheduler = AsyncIOScheduler(timezone=timezone.utc)
        self._seen: set[str] = set()
        self.devices: dict[str, DiscoveredDevice] = {}
        self.last_sweep: datetime | None = None
        self.last_error: str | None = None
        self._lock = asyncio.Lock()

    @property
    def config(self) -> DiscoveryConfig:
        return self._runtime.config.discovery

    def start(self) -> None:
        self._scheduler.start()
        self.reconfigure()

    def reconfigure(self) -> None:
        """Apply the current config: add, reschedule or remove the job."""
        if self._scheduler.get_job(JOB_ID):
            self._scheduler.remove_job(JOB_ID)
        if self.config.enabled:
            self._scheduler.add_job(
                self.sweep, "interval", minutes=self.config.interval_minutes, id=JOB_ID,
                next_run_time=datetime.now(timezone.utc), max_instances=1, coalesce=True,
            )

    async def stop(self) -> None:
        self._scheduler.shutdown(wait=False)

    def _configured_hosts(self) -> set[str]:
        return {f"{c.onvif.host}:{c.onvif.port}" for c in self._runtime.config.cameras if c.onvif}

    async def sweep(self) -> list[DiscoveredDevice]:
        """Probe once; call ``camera_discovered`` for each device new to this run."""
        from nvr.discovery import discover

        cfg = self.config
        async with self._lock:
            password = cfg.password.get_secret_value() if cfg.password else ""
            try:
                found = await discover(
                    interface=cfg.interface or "127.0.0.1", port=cfg.port, multicast=cfg.multicast,
                    unicast_targets=list(cfg.unicast), credentials=(cfg.username or "", password),
                    timeout=cfg.timeout_s,
                )
            except Exception as exc:  # a failed sweep is reported, never fatal
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("discovery sweep failed: %s", self.last_error)
                return []
            self.last_sweep, self.last_error = datetime.now(timezone.utc), None
            configured = self._configured_hosts()
            for device in found:
                key = device.endpoint or device.xaddr
                self.devices[key] = device
                if key in self._seen or f"{device.host}:{device.port}" in configured:
                    continue
                self._seen.add(key)
                self._runtime.plugins.notify("camera_discovered", device=device, runtime=self._runtime)
            log.info("discovery: %d device(s) answered", len(found))
            return found
