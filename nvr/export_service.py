"""Export jobs: accept them, run them one at a time on a thread, record progress, resume them after a restart.

A job is a catalog row (``export_jobs``). The service that runs it holds it
with an owner id and a heartbeat every second; a job whose heartbeat is older
than ``stale_s`` (its process died) or that is still queued is claimed by the
next service to look (every ``poll_s`` and at start). ``nvr run`` and ``nvr
export`` both run this service, so either finishes what the other left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvr.clock import Clock, now_us
from nvr.config import Config
from nvr.errors import NvrError
from nvr.export_boxes import MediaError
from nvr.export_bundle import BundleTask, checkpoint_path, part_path, write_bundle
from nvr.export_clip import ExportCancelled
from nvr.export_keys import SigningKey, load_or_create_key
from nvr.export_manifest import CameraInfo
from nvr.export_plan import ExportInputError, ExportRequest, plan_camera
from nvr.footage_remote import footage_root
from nvr.storage.catalog import Catalog
from nvr.storage.exports_catalog import ExportJob, NewExportJob

__all__ = ["ExportService", "JobProgress", "ProgressTracker", "bundle_file_name", "progress_of"]

log = logging.getLogger(__name__)

STALE_S = 30.0
POLL_S = 5.0
HEARTBEAT_S = 1.0
MAX_ATTEMPTS = 5
"""A job whose process died this many times is failed, not retried for ever."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def bundle_file_name(case: str) -> str:
    """``{id}-<case made safe>.zip``; the catalog fills in the id."""
    slug = _UNSAFE.sub("_", case).strip("._")[:40] or "export"
    return f"{{id}}-{slug}.zip"


@dataclass(frozen=True, slots=True)
class JobProgress:
    """Percent, bytes and an estimate of the seconds left (None when unknown)."""

    percent: float
    bytes_done: int
    bytes_total: int
    eta_s: float | None


def progress_of(job: ExportJob, now: int) -> JobProgress:
    """Progress from the job row alone, so it works for jobs another process runs."""
    eta = None
    if job.state == "running" and job.started_at and job.bytes_done > 0:
        elapsed = max(1, now - job.started_at) / 1e6
        eta = max(0.0, (job.bytes_total - job.bytes_done) / (job.bytes_done / elapsed))
    done = job.bytes_total if job.state == "done" else job.bytes_done
    return JobProgress(round(job.percent, 1), done, job.bytes_total, None if eta is None else round(eta, 1))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class ProgressTracker:
    """Source bytes consumed, counted on the export thread and read on the loop."""

    def __init__(self) -> None:
        self.done = 0
        self.total = 0

    def add(self, n: int) -> None:
        self.done += n


class ExportService:
    """Accepts and runs export jobs. ``config`` is called for the current config (it may be reloaded)."""

    def __init__(self, catalog: Catalog, config: Callable[[], Config], clock: Clock, *, stale_s: float = STALE_S,
                 poll_s: float = POLL_S) -> None:
        self.catalog = catalog
        self.config = config
        self.clock = clock
        self.stale_us = int(stale_s * 1e6)
        self.poll_s = poll_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.key: SigningKey | None = None
        self._cancel = threading.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.running: int | None = None
        """Id of the job this service is writing now."""

    async def load_key(self) -> SigningKey:
        """Load (creating on first use) the installation's signing key."""
        if self.key is None:
            self.key = await asyncio.to_thread(load_or_create_key, self.config().export_key_file)
            log.info("export signing key %s (%s)", self.key.path, self.key.fingerprint)
        return self.key

    async def start(self) -> None:
        """Load the key and start picking up jobs, unfinished ones first."""
        await self.load_key()
        self._task = asyncio.create_task(self._loop(), name="nvr-exports")

    async def stop(self) -> None:
        """Stop between two fragments; a job being written goes back to the queue and resumes next start."""
        self._cancel.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def submit(self, request: ExportRequest, actor: str, out_dir: Path | None = None) -> ExportJob:
        """Queue an export (after checking every camera has footage in the range); hold its range if asked."""
        for camera in request.cameras:
            if not await self.catalog.segments(camera, request.start_us, request.end_us):
                raise ExportInputError("cameras", f"camera {camera!r} has no footage in the requested range", 422)
        folder = out_dir or self.config().export_dir
        job = await self.catalog.create_export_job(NewExportJob(
            request.cameras, request.start_us, request.end_us, request.case, request.reason, actor,
            str(folder.resolve() / bundle_file_name(request.case)), request.hold))
        holds: list[int] = []
        if request.hold:
            for camera in request.cameras:
                hold = await self.catalog.add_hold(camera, request.start_us, request.end_us,
                                                   f"export {request.case}", created_by=actor)
                holds.append(hold.id)
            await self.catalog.set_export_holds(job.id, holds)
        await self.catalog.audit(actor, "export.create", f"export:{job.id}", {
            "cameras": list(request.cameras), "start_us": request.start_us, "end_us": request.end_us,
            "case": request.case, "reason": request.reason, "holds": holds})
        self._wake.set()
        return await self.catalog.get_export_job(job.id) or job

    async def release_dead_owners(self) -> list[int]:
        """Requeue running jobs whose owner was a process on this host that no longer exists (killed, crashed).

        Saves waiting ``stale_s`` for the heartbeat to age after a restart on the same machine.
        """
        released = []
        host = socket.gethostname()
        for job in await self.catalog.list_export_jobs(1000):
            if job.state != "running" or not job.owner or job.owner == self.owner:
                continue
            parts = job.owner.rsplit(":", 2)  # host:pid:nonce
            if len(parts) != 3 or parts[0] != host or not parts[1].isdigit() or _alive(int(parts[1])):
                continue
            if await self.catalog.release_export_job(job.id, job.owner):
                log.warning("export %d: its process %s is gone; resuming it", job.id, parts[1])
                released.append(job.id)
        return released

    async def _loop(self) -> None:
        while not self._cancel.is_set():
            self._wake.clear()
            try:
                await self.release_dead_owners()
                for job_id in await self.catalog.claimable_export_jobs(self.stale_us):
                    if self._cancel.is_set():
                        break
                    await self.run_job(job_id)
            except Exception:  # a catalog hiccup must not end the service
                log.exception("export service: checking for jobs failed; retrying")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def run_job(self, job_id: int, tracker: ProgressTracker | None = None) -> ExportJob | None:
        """Claim and run one job; None if someone else holds it. Returns the job as it ended."""
        job = await self.catalog.claim_export_job(job_id, self.owner, self.stale_us)
        if job is None:
            return None
        if job.attempts > MAX_ATTEMPTS:
            return await self._fail(job, f"gave up after {job.attempts - 1} interrupted attempts")
        tracker = tracker or ProgressTracker()
        self.running = job.id
        try:
            return await self._run(job, tracker)
        except ExportCancelled:
            await self.catalog.release_export_job(job.id, self.owner)
            log.info("export %d paused; it resumes at the next start", job.id)
            return await self.catalog.get_export_job(job.id)
        except (NvrError, MediaError, OSError) as exc:
            return await self._fail(job, str(exc))
        except Exception as exc:
            log.exception("export %d failed", job.id)
            return await self._fail(job, f"internal error: {exc!r}")
        finally:
            self.running = None

    async def _run(self, job: ExportJob, tracker: ProgressTracker) -> ExportJob | None:
        config = self.config()
        key = await self.load_key()
        taken: set[str] = set()
        # footage on other cluster nodes is fetched first (nvr.footage_remote); a single server reads its root
        root = await footage_root(self.catalog, config, list(job.cameras), job.start_us, job.end_us)
        plans = [await plan_camera(self.catalog, root, camera, job.start_us, job.end_us, taken)
                 for camera in job.cameras]
        tracker.total = sum(p.source_bytes for p in plans)
        log.info("export %d (case %s): %d camera(s), %.1f MB of footage, attempt %d", job.id, job.case,
                 len(plans), tracker.total / 1e6, job.attempts)
        task = BundleTask(job, plans, await self._camera_info(job.cameras), root, key,
                          lambda: now_us(self.clock), tracker.add, self._cancel)
        beat = asyncio.create_task(self._heartbeat(job, tracker))
        try:
            result = await asyncio.to_thread(write_bundle, task)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        done = await self.catalog.finish_export_job(job.id, self.owner, "done", result=result)
        await self.catalog.audit("nvr", "export.done", f"export:{job.id}", {
            "bundle": result["bundle"], "manifest_sha256": result["manifest_sha256"],
            "size_bytes": result["size_bytes"], "attempt": job.attempts})
        log.info("export %d done: %s", job.id, result["bundle"])
        return done

    async def _heartbeat(self, job: ExportJob, tracker: ProgressTracker) -> None:
        while True:
            try:
                if not await self.catalog.update_export_progress(job.id, self.owner, tracker.done, tracker.total):
                    log.warning("export %d: another process took the job over", job.id)
            except NvrError as exc:
                log.warning("export %d: progress not recorded: %s", job.id, exc)
            await asyncio.sleep(HEARTBEAT_S)

    async def _fail(self, job: ExportJob, error: str) -> ExportJob | None:
        log.error("export %d failed: %s", job.id, error)
        failed = await self.catalog.finish_export_job(job.id, self.owner, "failed", error=error)
        if failed is not None:  # a failed job is not retried: its partial bundle is litter
            bundle = Path(job.output_path)
            for leftover in (part_path(bundle), checkpoint_path(bundle)):
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)
        await self.catalog.audit("nvr", "export.failed", f"export:{job.id}", {"error": error})
        return failed

    async def _camera_info(self, names: tuple[str, ...]) -> dict[str, CameraInfo]:
        config = self.config()
        out = {}
        for name in names:
            cam, record = config.camera(name), await self.catalog.get_camera(name)
            out[name] = CameraInfo(
                title=cam.display_name if cam else None,
                kelurahan=(cam.kelurahan if cam else None) or (record.kelurahan if record else None),
                kecamatan=(cam.kecamatan if cam else None) or (record.kecamatan if record else None))
        return out

    def job_summary(self, job: ExportJob) -> dict[str, Any]:
        """Progress of ``job`` as of now (for the API and the CLI)."""
        p = progress_of(job, now_us(self.clock))
        return {"percent": p.percent, "bytes_done": p.bytes_done, "bytes_total": p.bytes_total, "eta_s": p.eta_s}
