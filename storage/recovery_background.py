"""The full storage walk after start-up, on a low-priority thread while nvr records; repairs what predates the start."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from nvr.storage.catalog import Catalog
from nvr.storage.check import PAGE, CheckReport, RowEntry, scan_store
from nvr.storage.layout import PARTIAL_SUFFIX, parse_relpath
from nvr.storage.recovery import RecoveryReport, apply_findings
from nvr.storage.walk import FileEntry

__all__ = ["BackgroundCheck", "CheckAborted"]

log = logging.getLogger(__name__)

DUTY = 0.5
"""Share of wall time the walk may be busy: it sleeps as long as it worked (GIL and disk left to recording)."""
NICE = 10
"""Added to the walk threads' nice value (Linux: per thread; also lowers their I/O priority under CFQ/BFQ)."""
SLACK_S = 2.0
"""Files and runs this much older than the start of recording are not this process's own."""
POLL_S = 0.5


class CheckAborted(Exception):
    """The server is stopping: the walk gave up; it runs again at the next start."""


class BackgroundCheck:
    """``check(live=True)`` on a dedicated low-priority thread, then the fixes for what predates this process.

    Everything found is re-checked on the loop before it is repaired: a row
    still ``ok`` whose file is still missing; a file still without a row,
    whose mtime and run are older than ``since_s`` (when this process began
    recording) and which this process does not hold open. What the running
    recorders and indexer are doing (new ``.part`` files, the index queue,
    retention's deletes) is never touched.
    """

    def __init__(self, catalog: Catalog, root: Path, since_s: float, *, duty: float = DUTY) -> None:
        self.catalog = catalog
        self.root = Path(root)
        self.since_s = since_s
        self.duty = min(1.0, max(0.05, duty))
        self.rows_read = 0
        self._abort = threading.Event()

    def abort(self) -> None:
        """Stop the walk at the next page of rows (the repairs, if already under way, finish)."""
        self._abort.set()

    async def run(self) -> tuple[CheckReport, RecoveryReport]:
        """Walk, re-check, repair; raise ``CheckAborted`` if ``abort()`` came first."""
        loop = asyncio.get_running_loop()
        done: concurrent.futures.Future[CheckReport] = concurrent.futures.Future()
        thread = threading.Thread(target=self._walk, args=(loop, done), name="nvr-full-check", daemon=True)
        thread.start()
        try:
            scan = await asyncio.wrap_future(done)
        except BaseException:
            self._abort.set()
            raise
        if self._abort.is_set():
            raise CheckAborted()
        findings = await self._predating(scan)
        report = RecoveryReport(scan=scan)
        await apply_findings(self.catalog, findings, report)
        return findings, report

    # -- the walk thread ------------------------------------------------------------

    def _walk(self, loop: asyncio.AbstractEventLoop, done: concurrent.futures.Future[CheckReport]) -> None:
        try:
            _lower_priority()
            done.set_result(scan_store(self.root, self._rows(loop), live=True))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            done.set_exception(exc)

    def _rows(self, loop: asyncio.AbstractEventLoop) -> Iterator[RowEntry]:
        """Every row in path order, a page ahead; sleeps between pages so it is busy only ``duty`` of the time."""
        def submit(after: str) -> concurrent.futures.Future[list[tuple[int, str, int, str, str]]]:
            return asyncio.run_coroutine_threadsafe(self.catalog.segment_files(after, PAGE), loop)

        rest = 1.0 / self.duty - 1.0
        future = submit("")
        busy_since = time.monotonic()
        while True:
            page = self._wait(future)
            more = len(page) >= PAGE
            if more:
                future = submit(page[-1][1])
            yield from map(RowEntry._make, page)
            self.rows_read += len(page)
            if not more:
                return
            if self._abort.wait((time.monotonic() - busy_since) * rest):
                future.cancel()
                raise CheckAborted()
            busy_since = time.monotonic()

    def _wait(self, future: concurrent.futures.Future[list[tuple[int, str, int, str, str]]]
              ) -> list[tuple[int, str, int, str, str]]:
        while True:
            try:
                return future.result(timeout=POLL_S)
            except TimeoutError:
                if self._abort.is_set():
                    future.cancel()
                    raise CheckAborted() from None

    # -- back on the loop -------------------------------------------------------------

    async def _predating(self, scan: CheckReport) -> CheckReport:
        """The findings to repair: confirmed now, and not the work of this process."""
        out = CheckReport(root=self.root, rows=scan.rows, files=scan.files, bytes=scan.bytes,
                          size_mismatches=list(scan.size_mismatches), unreadable=list(scan.unreadable),
                          unknown_files=list(scan.unknown_files))
        for row in scan.missing_files:
            seg = await self.catalog.get_segment(row.id)
            if seg is not None and seg.state == "ok" and not await asyncio.to_thread((self.root / row.path).exists):
                out.missing_files.append(row)
        suspects = [e.relpath for e in scan.unindexed_files] + scan.in_flight
        for entry, partial in await asyncio.to_thread(self._old_orphans, suspects):
            if partial:
                out.partial_files.append(entry)
            elif await self.catalog.segment_by_path(entry.relpath) is None:
                out.unindexed_files.append(entry)
        out.in_flight = sorted(set(scan.in_flight) - {e.relpath for e in out.partial_files + out.unindexed_files})
        return out

    def _old_orphans(self, relpaths: list[str]) -> list[tuple[FileEntry, bool]]:
        """The files among ``relpaths`` that predate this process and that it does not hold open."""
        since = self.since_s - SLACK_S
        held = _open_files()
        out = []
        for rel in relpaths:
            partial = rel.endswith(PARTIAL_SUFFIX)
            parsed = parse_relpath(rel[: -len(PARTIAL_SUFFIX)] if partial else rel)
            if parsed is None or parsed[2] >= since * 1_000_000:  # a run this process started
                continue
            path = self.root / rel
            try:
                st = path.stat()
            except OSError:
                continue
            if st.st_mtime >= since or os.path.realpath(path) in held:
                continue
            out.append((FileEntry(rel, st.st_size, st.st_mtime), partial))
        return out


def _open_files() -> set[str]:
    """Paths this process holds open (Linux ``/proc``; empty elsewhere, leaving the mtime test alone)."""
    held = set()
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return held
    for fd in fds:
        try:
            held.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return held


def _lower_priority() -> None:
    """Raise this thread's nice value; threads it starts (the walk's listers) inherit it."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + NICE))
    except (AttributeError, OSError) as exc:
        log.debug("cannot lower the background check's priority: %s", exc)
