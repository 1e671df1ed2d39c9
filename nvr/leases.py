"""The lease loop of one node: renew, rebalance and take over cameras every interval, off the event loop.

``LeaseManager`` runs ``LeaseStore.cycle`` on its own thread every
``renew_interval_s`` and tells its owner (``nvr.nodes.NodeRecorder``) which
cameras to record: ``on_held(held)`` after every cycle, and ``on_release``
for cameras to hand back, which the owner stops before the leases are
released. When the catalog cannot be reached, the cameras already held keep
recording (recording never stops for the catalog); the fencing check refuses
their segments if another node took them over meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from nvr.storage.postgres_leases import CycleResult, LeaseStore

__all__ = ["LeaseManager"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class LeaseManager:
    """Keeps one node's camera leases; call ``start``, then ``stop`` (releases everything)."""

    def __init__(self, store: LeaseStore, interval_s: float,
                 cameras: Callable[[], list[str]],
                 on_held: Callable[[dict[str, int]], Awaitable[None]],
                 on_release: Callable[[list[str]], Awaitable[None]]):
        self.store = store
        self.interval_s = interval_s
        self._cameras = cameras
        self._on_held = on_held
        self._on_release = on_release
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nvr-leases")
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.held: dict[str, int] = {}
        self.last: CycleResult | None = None
        self.cycles = 0
        self.failures = 0

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def start(self, url: str | None, pins: dict[str, str | None]) -> None:
        """Connect, join (heartbeat) and create the lease rows; the first cycle claims nothing."""
        await self._run(self.store.open)
        await self._run(self.store.join, url)
        await self.sync(pins)
        await self.cycle(claim=False)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="lease-manager")

    async def sync(self, pins: dict[str, str | None]) -> None:
        """Make sure every configured camera has a lease row with its pin (after a config change)."""
        await self._run(self.store.sync_cameras, pins)

    async def set_url(self, url: str) -> None:
        await self._run(self.store.set_url, url)

    def poke(self) -> None:
        """Run the next cycle now (a config change)."""
        self._wake.set()

    async def cycle(self, claim: bool = True) -> CycleResult:
        """One protocol step: renew and claim, record what is held, hand back what is to be released."""
        result = await self._run(self.store.cycle, self._cameras(), claim)
        lost = sorted(set(self.held) - set(result.held))
        if lost:
            log.warning("node %s lost the lease of %s (taken over while it was away)", self.store.node, lost)
        self.held = dict(result.held)
        self.last = result
        self.cycles += 1
        await self._on_held(dict(self.held))
        if result.release:
            await self._on_release(result.release)  # recorders stop first, then the leases go back
            await self._run(self.store.release, result.release)
            for name in result.release:
                self.held.pop(name, None)
            log.info("node %s handed back %s (share %d of %d live node(s))", self.store.node, result.release,
                     result.target, len(result.live))
        return result

    async def _loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.interval_s * (0.9 + 0.2 * random.random())):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.cycle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # catalog down or slow: keep recording what is held, try again
                self.failures += 1
                if self.failures == 1 or self.failures % 20 == 0:
                    log.error("node %s: lease cycle failed (%s); cameras held keep recording", self.store.node, exc)

    async def stop(self, release: bool = True) -> None:
        """Stop the loop; with ``release``, hand every lease back and mark the node stopped (a clean stop)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            if release:
                await self._run(self.store.leave)
        except Exception as exc:  # the leases expire by themselves
            log.warning("node %s: could not hand its leases back (%s); they expire in %.0f s",
                        self.store.node, exc, self.store.ttl_us / 1e6)
        finally:
            await self._run(self.store.close)
            self._executor.shutdown(wait=False)
