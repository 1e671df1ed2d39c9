"""Retention sweeps on a schedule: plan, then delete two-phase (mark, unlink, fsync, remove rows)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from nvr.clock import from_utc_us, now_us
from nvr.config import Config
from nvr.models import Segment, SegmentSpan
from nvr.retention import Disk
from nvr.retention_scan import GB, Scanner, SweepPlan
from nvr.storage.durable import fsync_dir
from nvr.storage.layout import parse_relpath

if TYPE_CHECKING:
    from nvr.runtime import Runtime

__all__ = ["GB", "RetentionService", "SweepReport", "disk_state"]

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "retention-sweep"
CHECK_JOB_ID = "retention-free-space"
FLOOR_RETRY_S = 60.0
"""After a sweep that could not reach the floor, free-space checks wait this long before trying again."""
RECENT_FOLDER_US = 2 * 3600 * 1_000_000
"""Hour folders younger than this are never removed: the recorder may be creating them."""

DiskUsage = Callable[[Path], Any]
"""Like ``shutil.disk_usage``: returns an object with ``total`` and ``free`` in bytes."""


def disk_state(usage: Any, min_free_percent: float, min_free_gb: float) -> Disk:
    """The floor is the larger of a percentage of the disk and an absolute number of GB."""
    floor = max(round(usage.total * min_free_percent / 100), round(min_free_gb * GB))
    return Disk(total_bytes=int(usage.total), free_bytes=int(usage.free), floor_bytes=floor)


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What a sweep did, for the UI and the logs. ``reasons`` counts planned deletions per rule."""

    time_us: int
    trigger: str
    deleted: int = 0
    freed_bytes: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    held: int = 0
    candidates: int = 0
    failed: int = 0
    floor_needed: bool = False
    floor_unreachable: bool = False
    floor_shortfall_bytes: int = 0
    cap_unreachable: tuple[str, ...] = ()
    more: bool = False
    plan_s: float = 0.0
    total_s: float = 0.0
    error: str | None = None

    @property
    def time(self) -> datetime:
        """``time_us`` as an aware UTC datetime."""
        return from_utc_us(self.time_us)


class RetentionService:
    """Deletes footage past retention, over a size cap or below the free-space floor; never held footage.

    ``sweep()`` runs one pass (tests call it directly). ``start()`` schedules
    a pass every ``[retention] interval_minutes`` and a free-space check every
    ``check_seconds`` that sweeps at once when free space is under the floor.
    ``disk_usage`` is injectable (tests fake a full disk).
    """

    delete_batch = 2_000
    """Segments marked, unlinked and removed per catalog round trip."""

    def __init__(self, runtime: Runtime, *, disk_usage: DiskUsage = shutil.disk_usage) -> None:
        self._runtime = runtime
        self._disk_usage = disk_usage
        self.scanner = Scanner(runtime.catalog)
        self._scheduler: AsyncIOScheduler | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._generation = 0  # bumped by reconfigure(): cursors planned under older rules are dropped
        self._failed: set[int] = set()
        self.last_sweep: SweepReport | None = None
        self.last_disk: Disk | None = None

    @property
    def config(self) -> Config:
        return self._runtime.config

    @property
    def running(self) -> bool:
        """True while a sweep is in progress."""
        return self._lock.locked()

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Schedule a sweep in a few seconds and then every ``interval_minutes``, plus free-space checks."""
        self._stopping = False
        self._scheduler = AsyncIOScheduler(timezone=timezone.utc)
        self._scheduler.start()
        self._schedule(first_sweep=datetime.now(timezone.utc) + timedelta(seconds=5))

    def reconfigure(self) -> None:
        """Apply a reloaded config: reschedule, and re-examine retained footage under the new rules."""
        self.scanner.forget()
        self._generation += 1
        if self._scheduler is not None:
            self._schedule(first_sweep=None)

    async def stop(self) -> None:
        """Stop scheduling; a running sweep stops after its current batch (5 s at most, then cancelled)."""
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), 5.0)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def _schedule(self, first_sweep: datetime | None) -> None:
        assert self._scheduler is not None
        cfg = self.config.retention
        for job_id in (SWEEP_JOB_ID, CHECK_JOB_ID):
            if self._scheduler.get_job(job_id):
                self._scheduler.remove_job(job_id)
        extra = {"next_run_time": first_sweep} if first_sweep is not None else {}
        self._scheduler.add_job(self._scheduled_sweep, "interval", minutes=cfg.interval_minutes, id=SWEEP_JOB_ID,
                                max_instances=1, coalesce=True, **extra)
        self._scheduler.add_job(self.check_free_space, "interval", seconds=cfg.check_seconds, id=CHECK_JOB_ID,
                                max_instances=1, coalesce=True)

    async def _scheduled_sweep(self) -> None:
        self.trigger("schedule")

    def trigger(self, reason: str = "manual") -> bool:
        """Start sweeping in the background unless a sweep is already running; True if started."""
        if self._stopping or (self._task is not None and not self._task.done()):
            return False
        self._task = asyncio.get_running_loop().create_task(self._run(reason), name=f"retention-{reason}")
        return True

    async def wait(self) -> None:
        """Wait for a background sweep started by ``trigger`` (tests)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self, trigger: str) -> None:
        """Sweep until nothing is left over (``more``); log failures instead of raising."""
        while not self._stopping:
            try:
                report = await self.sweep(trigger)
            except Exception as exc:  # a failed sweep is reported and retried next time, never fatal
                log.exception("retention sweep failed")
                self.last_sweep = SweepReport(time_us=now_us(self._runtime.clock), trigger=trigger,
                                              error=f"{type(exc).__name__}: {exc}")
                return
            if not (report.more and report.deleted):
                return
            trigger = "continue"

    # -- free space --------------------------------------------------------------------

    async def disk(self) -> Disk | None:
        """Free space on the storage root's filesystem and the floor (``None`` if the root is missing)."""
        cfg = self.config.retention
        try:
            usage = await asyncio.to_thread(self._disk_usage, self.config.storage.root)
        except FileNotFoundError:
            return None
        self.last_disk = disk_state(usage, cfg.min_free_percent, cfg.min_free_gb)
        return self.last_disk

    async def check_free_space(self) -> bool:
        """Start a sweep if free space is under the floor; True if one started."""
        disk = await self.disk()
        if disk is None or disk.free_bytes >= disk.floor_bytes:
            return False
        last = self.last_sweep
        if last is not None and last.floor_unreachable:
            if now_us(self._runtime.clock) - last.time_us < FLOOR_RETRY_S * 1_000_000:
                return False
        if self.running:
            return False
        log.warning("free space %.2f GB is under the floor of %.2f GB: sweeping now",
                    disk.free_bytes / GB, disk.floor_bytes / GB)
        return self.trigger("floor")

    # -- one sweep -----------------------------------------------------------------------

    async def plan(self) -> SweepPlan:
        """Plan a sweep without deleting anything (benchmarks, dry runs)."""
        disk = await self.disk()
        return await self.scanner.plan(self.config, now_us(self._runtime.clock), disk)

    async def sweep(self, trigger: str = "manual") -> SweepReport:
        """Plan and carry out one sweep; catalog errors propagate (the scheduled wrapper logs them)."""
        async with self._lock:
            started = time.perf_counter()
            await self._retry_failed()
            generation = self._generation
            planned = await self.plan()
            plan_s = time.perf_counter() - started
            deleted, freed, failed, raced = await self._delete(planned)
            if generation == self._generation:
                self.scanner.commit(planned)
            plan = planned.plan
            report = SweepReport(
                time_us=planned.now_us, trigger=trigger, deleted=deleted, freed_bytes=freed,
                reasons=dict(plan.reasons), held=len(plan.held) + raced, candidates=len(planned.segments),
                failed=failed, floor_needed=plan.floor_needed, floor_unreachable=plan.floor_unreachable,
                floor_shortfall_bytes=plan.floor_shortfall_bytes, cap_unreachable=plan.cap_unreachable,
                more=planned.more, plan_s=plan_s, total_s=time.perf_counter() - started,
            )
            self.last_sweep = report
            _log_report(report)
            return report

    async def _delete(self, planned: SweepPlan) -> tuple[int, int, int, int]:
        """Two-phase delete in batches; returns (deleted, freed bytes, failed unlinks, spared by a new hold)."""
        catalog, root = self._runtime.catalog, self.config.storage.root
        ids = planned.plan.ids
        deleted = freed = failed = raced = 0
        for i in range(0, len(ids), self.delete_batch):
            if self._stopping:
                break
            batch = ids[i:i + self.delete_batch]
            # Phase 1, durable before any file goes; a hold added since planning still wins here.
            marked = await catalog.mark_segment_garbage_unless_held(batch, planned.now_us)
            raced += len(batch) - len(marked)
            rows = [planned.segments[m] for m in marked]
            self.scanner.deleted(rows)
            gone, bad = await asyncio.to_thread(_unlink_all, root, rows)
            self._failed.update(bad)
            failed += len(bad)
            await catalog.delete_segments(gone)  # phase 3
            deleted += len(gone)
            freed += sum(planned.segments[g].size_bytes for g in gone)
            await asyncio.to_thread(_remove_empty_folders, root, [planned.segments[g].path for g in gone],
                                    planned.now_us)
        return deleted, freed, failed, raced

    async def _retry_failed(self) -> None:
        """Retry files an earlier sweep could not unlink (their rows stayed ``garbage``)."""
        if not self._failed:
            return
        catalog, root = self._runtime.catalog, self.config.storage.root
        rows = [s for i in sorted(self._failed) if (s := await catalog.get_segment(i)) is not None and s.is_garbage]
        self._failed.clear()
        gone, bad = await asyncio.to_thread(_unlink_all, root, rows)
        self._failed.update(bad)
        await catalog.delete_segments(gone)


def _log_report(r: SweepReport) -> None:
    if r.deleted or r.failed:
        log.info("retention (%s): deleted %d segment(s), %.2f GB (age %d, cap %d, floor %d); %d held, %d failed; "
                 "planned in %.2f s, done in %.2f s", r.trigger, r.deleted, r.freed_bytes / GB,
                 r.reasons.get("age", 0), r.reasons.get("cap", 0), r.reasons.get("floor", 0), r.held, r.failed,
                 r.plan_s, r.total_s)
    if r.floor_unreachable:
        log.error("retention: free space stays %.2f GB under the floor; the oldest remaining footage is held "
                  "(see `nvr storage hold list`)", r.floor_shortfall_bytes / GB)
    if r.cap_unreachable:
        log.warning("retention: held footage keeps camera(s) over their size cap: %s", ", ".join(r.cap_unreachable))


def _unlink_all(root: Path, rows: Sequence[SegmentSpan | Segment]) -> tuple[list[int], list[int]]:
    """Unlink each row's file (already missing is fine), then fsync each touched folder once.

    Returns (ids whose file is gone, ids whose unlink failed).
    """
    gone: list[int] = []
    bad: list[int] = []
    folders: set[Path] = set()
    for seg in rows:
        path = root / seg.path
        try:
            path.unlink()
            folders.add(path.parent)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("retention: cannot delete %s: %s (its row stays garbage)", path, exc)
            bad.append(seg.id)
            continue
        gone.append(seg.id)
    for folder in folders:
        try:
            fsync_dir(folder)
        except OSError as exc:
            # The row goes anyway: a name that comes back after a crash is a file without a
            # row (litter that startup recovery removes), never a row without a file.
            log.warning("retention: cannot fsync %s: %s", folder, exc)
    return gone, bad


def _remove_empty_folders(root: Path, relpaths: list[str], now_us: int) -> None:
    """Remove emptied ``camera/date/hour`` folders and then emptied date folders; never a camera's own."""
    recent = now_us - RECENT_FOLDER_US
    hours: set[tuple[str, str, str]] = set()
    for rel in relpaths:
        parsed = parse_relpath(rel)
        if parsed is not None and int(parsed[1].timestamp()) * 1_000_000 < recent:
            camera, date, hour = PurePosixPath(rel).parts[:3]
            hours.add((camera, date, hour))
    dates: set[tuple[str, str]] = set()
    for camera, date, hour in sorted(hours):
        if _rmdir(root / camera / date / hour):
            dates.add((camera, date))
    for camera, date in sorted(dates):
        day_end = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=timezone.utc) + timedelta(days=1)
        if int(day_end.timestamp()) * 1_000_000 < recent:
            _rmdir(root / camera / date)


def _rmdir(folder: Path) -> bool:
    """Remove ``folder`` if it is empty, then fsync its parent; True if removed."""
    try:
        os.rmdir(folder)
    except OSError:
        return False  # not empty, already gone, or not ours to remove
    try:
        fsync_dir(folder.parent)
    except OSError as exc:
        log.warning("retention: cannot fsync %s: %s", folder.parent, exc)
    return True
