"""Start-up recovery in two parts: a bounded check now (sized by the clean-shutdown marker), the full walk later."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nvr.clock import Clock, SystemClock, from_utc_us, now_us
from nvr.errors import CatalogError
from nvr.storage.catalog import Catalog
from nvr.storage.recovery import RecoveryReport
from nvr.storage.recovery_background import BackgroundCheck, CheckAborted
from nvr.storage.recovery_fast import CLEAN_MARGIN_US, CRASH_MARGIN_US, recover_recent

__all__ = ["LAST_FULL_CHECK_KEY", "FullCheckStatus", "Marker", "StartupRecovery", "index_leftovers"]

log = logging.getLogger(__name__)

BACKGROUND_DELAY_S = 60.0
"""The full walk starts this long after the server is up, once the cameras have connected."""
STOP_GRACE_S = 10.0
"""At shutdown, how long repairs already under way may take to finish before they are cancelled."""
LAST_FULL_CHECK_KEY = "startup.last_full_check"
"""``meta`` key: the outcome of the last background full check (JSON), for the admin UI and people."""


@dataclass(frozen=True)
class Marker:
    """The clean-shutdown marker a stopping server leaves in ``meta``."""

    generation: int
    at: int
    """When the server stopped (UTC µs)."""
    root: str
    last_segment_id: int
    """The highest segment id at shutdown: a row added or removed later (another nvr, a repair) voids the marker."""
    full_check_due: bool
    """The full storage check has not completed since the last crash (or the index missed files)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def parse(cls, text: str | None) -> Marker | None:
        if not text:
            return None
        try:
            d = json.loads(text)
            return cls(int(d["generation"]), int(d["at"]), str(d["root"]), int(d["last_segment_id"]),
                       bool(d["full_check_due"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class FullCheckStatus:
    """The background full check, for ``Runtime.extras`` and the admin UI."""

    state: str = "not needed"
    """``not needed``, ``scheduled``, ``running``, ``done``, ``failed`` or ``stopped`` (server stopped first)."""
    reason: str = ""
    started_at: int | None = None
    finished_at: int | None = None
    elapsed_s: float = 0.0
    rows: int = 0
    files: int = 0
    problems: int = 0
    """Findings that predate this start (repaired unless the safety valve held them back)."""
    summary: str = ""
    error: str = ""


def index_leftovers(indexer: Any) -> str | None:
    """Why the catalog may lack rows for some files once the indexer stopped (``None``: it missed nothing)."""
    if indexer is None:
        return None
    stats = indexer.stats
    parts = [f"{indexer.depth} event(s) still queued"] if indexer.depth else []
    parts += [f"{stats.overflowed} dropped by a full queue"] if stats.overflowed else []
    parts += [f"{stats.failed} refused by the catalog"] if stats.failed else []
    return "the indexer left files to recovery: " + ", ".join(parts) if parts else None


class StartupRecovery:
    """``recover()`` before recording, ``start_background()`` once serving, ``stop()`` after recording stopped.

    After a clean shutdown (a valid marker) start-up checks only each
    camera's latest hour folder and what is newer; after a crash it checks
    from an hour before each camera's latest segment, then walks the whole
    store in the background. See "Start-up recovery" in docs/design/storage.md.
    """

    def __init__(self, catalog: Catalog, root: Path, clock: Clock | None = None, *,
                 background_delay_s: float | None = None) -> None:
        self.catalog = catalog
        self.root = Path(root)
        self.clock = clock or SystemClock()
        self.background_delay_s = BACKGROUND_DELAY_S if background_delay_s is None else background_delay_s
        self.mode = ""
        """``clean`` (a valid marker), ``crash`` (none, or not valid) or ``empty`` (no footage in the catalog)."""
        self.reason = ""
        self.generation = 0
        self.report: RecoveryReport | None = None
        self.full = FullCheckStatus()
        self._recording_since = 0.0
        self._task: asyncio.Task[None] | None = None
        self._check: BackgroundCheck | None = None

    # -- start -------------------------------------------------------------------------

    async def recover(self) -> RecoveryReport:
        """The synchronous part: bounded by the cameras' recent folders, not by the size of the store."""
        generation, text = await self.catalog.begin_generation()
        self.generation = generation
        marker = Marker.parse(text)
        last_id = await self.catalog.last_segment_id()
        why = await self._not_clean(marker, text, last_id)
        if why is None:
            assert marker is not None
            self.mode, reference, margin = "clean", marker.at, CLEAN_MARGIN_US
            self.reason = f"clean shutdown at {from_utc_us(marker.at):%Y-%m-%d %H:%M:%S} UTC"
            log.info("storage start-up %d after a %s (start %d): checking each camera's latest segment and anything "
                     "newer", generation, self.reason, marker.generation)
        else:
            self.mode, reference, margin = ("empty" if last_id == 0 else "crash"), now_us(self.clock), CRASH_MARGIN_US
            self.reason = why
            level = logging.INFO if self.mode == "empty" else logging.WARNING
            log.log(level, "storage start-up %d: %s; checking each camera's recent folders now%s", generation, why,
                    "" if self.mode == "empty" else " and the whole store in the background")
        report = self.report = await recover_recent(self.catalog, self.root, reference_us=reference, margin_us=margin,
                                                    clock=self.clock, label=f"{self.mode} start-up")
        if self.mode == "clean":
            due = "the full check was still due at the last shutdown" if marker and marker.full_check_due else ""
            if not due and (report.changed or report.errors or (report.scan is not None and not report.scan.clean)):
                due = "start-up after a clean shutdown found problems in the recent folders"
        else:  # after a crash; with no footage in the catalog every camera folder was just compared whole
            due = (why or "") if self.mode == "crash" else ""
        if due:
            self.full = FullCheckStatus(state="scheduled", reason=due)
        self._recording_since = time.time()
        return report

    async def _not_clean(self, marker: Marker | None, text: str | None, last_id: int) -> str | None:
        """Why the marker does not vouch for the store, or ``None`` if it does."""
        if last_id == 0:
            return "no footage in the catalog yet"
        if text is None:
            return "no clean-shutdown marker (nvr crashed, was killed or lost power; or this is its first start)"
        if marker is None:
            return f"unreadable clean-shutdown marker {text[:80]!r}"
        if marker.generation != self.generation - 1:
            return f"the marker is from start {marker.generation}, but start {self.generation - 1} ran last"
        if marker.root != await asyncio.to_thread(os.path.realpath, self.root):
            return f"the marker is for storage root {marker.root}, not {self.root}"
        if marker.last_segment_id != last_id:
            return f"segments changed after the clean shutdown (last id {marker.last_segment_id}, now {last_id})"
        return None

    def start_background(self) -> None:
        """Schedule the full walk if it is due (call once the server is up)."""
        if self.full.state == "scheduled" and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._background(), name="storage-full-check")

    async def wait_background(self) -> None:
        """Wait until the background check (if any) has finished, failed or stopped."""
        if self._task is not None:
            await asyncio.gather(asyncio.shield(self._task), return_exceptions=True)

    async def _background(self) -> None:
        await asyncio.sleep(self.background_delay_s)
        self.full.state, self.full.started_at = "running", now_us(self.clock)
        log.info("background storage check of %s started (%s); recording goes on", self.root, self.full.reason)
        started = time.monotonic()
        self._check = BackgroundCheck(self.catalog, self.root, self._recording_since)
        try:
            findings, report = await self._check.run()
        except (CheckAborted, asyncio.CancelledError):
            self.full.state = "stopped"
            log.info("background storage check stopped with the server after %.1f s (%d rows); it runs again at the "
                     "next start", time.monotonic() - started, self._check.rows_read)
            return
        except Exception as exc:  # noqa: BLE001 - reported; the server keeps recording
            self.full.state, self.full.error = "failed", f"{type(exc).__name__}: {exc}"
            log.error("background storage check of %s failed: %s; `nvr check-storage` runs it by hand",
                      self.root, self.full.error)
            return
        full = self.full
        full.state, full.finished_at, full.elapsed_s = "done", now_us(self.clock), time.monotonic() - started
        full.rows, full.files, full.problems = findings.rows, findings.files, findings.problems
        full.summary = report.summary()
        level = logging.WARNING if report.changed or report.errors or findings.problems else logging.INFO
        log.log(level, "background storage check of %s done in %.1f s: %d row(s), %d file(s), %d problem(s) older "
                "than this start; %s", self.root, full.elapsed_s, full.rows, full.files, full.problems, full.summary)
        for line in findings.lines()[1:-1]:
            log.log(level, "background storage check: %s", line)
        try:
            await self.catalog.set_meta(LAST_FULL_CHECK_KEY, json.dumps(asdict(full), sort_keys=True))
        except CatalogError as exc:
            log.error("cannot record the background storage check's outcome: %s", exc)

    # -- stop ------------------------------------------------------------------------

    async def stop(self, error: BaseException | None = None, leftovers: str | None = None) -> None:
        """Stop the background walk; then record a clean shutdown unless ``error`` says the stop was not one.

        Call after the recorders and the indexer stopped. ``leftovers``
        (``index_leftovers``) keeps the marker but makes the next start walk
        the whole store in the background.
        """
        await self._stop_background()
        if error is not None:
            log.warning("no clean shutdown recorded (%s: %s): the next start recovers as after a crash",
                        type(error).__name__, error)
            return
        due = self.full.state not in ("not needed", "done")
        if leftovers:
            log.warning("%s; the next start walks the whole store in the background", leftovers)
        marker = Marker(self.generation, now_us(self.clock), await asyncio.to_thread(os.path.realpath, self.root),
                        await self.catalog.last_segment_id(), due or bool(leftovers))
        if await self.catalog.record_clean_shutdown(self.generation, marker.to_json()):
            log.info("clean shutdown recorded (start %d%s)", self.generation,
                     "; the full storage check is still due" if marker.full_check_due else "")
        else:
            log.warning("clean shutdown not recorded: another nvr started on this catalog after this one")

    async def _stop_background(self) -> None:
        task, self._task = self._task, None
        if task is None or task.done():
            return
        if self._check is not None:
            self._check.abort()
            try:  # the walk stops at its next page; repairs under way get a moment to finish
                await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_S)
                return
            except TimeoutError:
                log.warning("background storage check did not stop within %.0f s; cancelling it", STOP_GRACE_S)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if self.full.state in ("scheduled", "running"):
            self.full.state = "stopped"

    # -- for the UI --------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What start-up found and where the background check stands (plain values)."""
        report = self.report
        return {
            "mode": self.mode, "reason": self.reason, "generation": self.generation,
            "elapsed_s": report.elapsed_s if report else None, "summary": report.summary() if report else "",
            "full_check": asdict(self.full),
        }
