"""Startup recovery: finish interrupted deletes, end crashed runs, index or quarantine orphans, fix bad rows."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from nvr.clock import Clock, SystemClock, now_us, utc_us
from nvr.errors import CatalogError, CatalogUnavailable
from nvr.models import MEDIA_TIMEBASE, Run
from nvr.segments import file_digest
from nvr.storage.catalog import Catalog
from nvr.storage.check import CheckReport, FileEntry, Mismatch, Probe, RowEntry, UnplayableError, check, probe
from nvr.storage.durable import durable_rename, fsync_dir, fsync_file, make_dirs_durable
from nvr.storage.fmp4 import scan_fragments, truncate_to_complete_fragments
from nvr.storage.layout import PARTIAL_SUFFIX, QUARANTINE_DIR, parse_relpath

__all__ = ["RECOVERY_REASON", "RecoveryReport", "apply_findings", "apply_fixes", "end_open_runs", "finish_deletes",
           "quarantine", "recover"]

log = logging.getLogger(__name__)

RECOVERY_REASON = "crash"
"""``runs.reason_ended`` of runs that recovery ends or creates."""
MASS_MISSING_ROWS = 20
MASS_MISSING_FRACTION = 0.2
"""More rows than both of these without files looks like an unmounted disk, not lost files: rows stay."""
PREPARE_AHEAD = 4
"""Orphaned files cut, demuxed and hashed in parallel threads ahead of indexing them in order."""


@dataclass
class RecoveryReport:
    """What recovery (or ``check-storage --repair``) changed; every list names paths relative to the root."""

    deletes_finished: list[str] = field(default_factory=list)
    runs_ended: list[int] = field(default_factory=list)
    runs_created: list[int] = field(default_factory=list)
    indexed: list[str] = field(default_factory=list)
    truncated: list[tuple[str, int]] = field(default_factory=list)
    """(path, bytes cut after the last complete fragment)."""
    removed_empty: list[str] = field(default_factory=list)
    """``.part`` files that held no complete fragment (at most the open one)."""
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason); the file now lies under ``.quarantine/``."""
    rows_removed: list[str] = field(default_factory=list)
    rows_fixed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    scan: CheckReport | None = None
    finished_at: int = 0
    elapsed_s: float = 0.0

    @property
    def changed(self) -> bool:
        return any((self.deletes_finished, self.runs_ended, self.runs_created, self.indexed, self.truncated,
                    self.removed_empty, self.quarantined, self.rows_removed, self.rows_fixed))

    def summary(self) -> str:
        """One line of counts."""
        return (f"{len(self.indexed)} file(s) indexed ({len(self.truncated)} cut to their last whole fragment), "
                f"{len(self.quarantined)} quarantined, {len(self.removed_empty)} empty .part removed, "
                f"{len(self.rows_removed)} row(s) without a file removed, {len(self.rows_fixed)} row(s) fixed, "
                f"{len(self.deletes_finished)} delete(s) finished, {len(self.runs_ended)} run(s) ended, "
                f"{len(self.runs_created)} run(s) re-created, {len(self.errors)} error(s)")

    def lines(self) -> list[str]:
        """One line per change, for ``nvr check-storage --repair``."""
        out = [f"INDEXED        {p}" for p in self.indexed]
        out += [f"CUT            {p}: {n} byte(s) of an incomplete fragment dropped" for p, n in self.truncated]
        out += [f"REMOVED        {p}: held no complete fragment" for p in self.removed_empty]
        out += [f"QUARANTINED    {p}: {why}" for p, why in self.quarantined]
        out += [f"ROW-REMOVED    {p}: file missing" for p in self.rows_removed]
        out += [f"ROW-FIXED      {p}" for p in self.rows_fixed]
        out += [f"DELETED        {p}: finished an interrupted delete" for p in self.deletes_finished]
        out += [f"RUN-ENDED      run {r}" for r in self.runs_ended]
        out += [f"RUN-CREATED    run {r}" for r in self.runs_created]
        out += [f"ERROR          {e}" for e in self.errors]
        return [*out, self.summary()]


async def recover(catalog: Catalog, root: Path, clock: Clock | None = None) -> RecoveryReport:
    """Bring disk and catalog back in line after a crash; run before recording starts.

    On an intact store this walks the tree and pages through the rows once,
    comparing names and sizes; only suspects are hashed or demuxed. Errors
    about single files are logged and reported, never raised; an unreachable
    catalog raises.
    """
    started = time.monotonic()
    root = Path(root)
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    report = RecoveryReport()
    garbage = [RowEntry(s.id, s.path, s.size_bytes, s.sha256, s.state) for s in await catalog.garbage_segments()]
    await finish_deletes(catalog, root, garbage, report)
    await end_open_runs(catalog, report)
    scan = await check(catalog, root, deep=False)
    await apply_findings(catalog, scan, report)
    report.scan = scan
    report.finished_at = now_us(clock or SystemClock())
    report.elapsed_s = time.monotonic() - started
    level = logging.WARNING if report.changed or report.errors else logging.INFO
    log.log(level, "storage recovery of %s in %.2f s: %s", root, report.elapsed_s, report.summary())
    return report


async def apply_fixes(catalog: Catalog, scan: CheckReport, *, force: bool = False) -> RecoveryReport:
    """Apply recovery's fixes to the findings of a (not live) check: ``nvr check-storage --repair``.

    ``force`` removes rows without files even when so many are missing that
    the storage looks unmounted.
    """
    started = time.monotonic()
    report = RecoveryReport(scan=scan)
    if scan.open_runs:
        await end_open_runs(catalog, report)
    await apply_findings(catalog, scan, report, force=force)
    report.elapsed_s = time.monotonic() - started
    return report


async def apply_findings(catalog: Catalog, scan: CheckReport, report: RecoveryReport, force: bool = False) -> None:
    """Repair what ``scan`` found (its open runs aside), adding to ``report``; per-file errors are reported."""
    root = scan.root
    await _guard(report, "pending deletes", finish_deletes(catalog, root, scan.garbage_rows, report))
    await _index_files(catalog, root, [(f, True) for f in scan.partial_files]
                       + [(f, False) for f in scan.unindexed_files], report)
    missing = len(scan.missing_files)
    if not force and missing > MASS_MISSING_ROWS and missing > MASS_MISSING_FRACTION * scan.rows:
        log.critical("%d of %d catalogued segment files are missing under %s: is the storage disk mounted? "
                     "Their rows are kept; if the footage is really gone, run `nvr check-storage --repair "
                     "--force`", missing, scan.rows, root)
        report.errors.append(f"{missing} of {scan.rows} segment files missing: rows kept (storage not mounted?)")
    else:
        await _guard(report, "rows without files", _remove_rows(catalog, scan.missing_files, report))
    for mismatch in [*scan.size_mismatches, *scan.hash_mismatches]:
        await _guard(report, mismatch.row.path, _fix_row(catalog, root, mismatch, report))
    for bad in scan.unplayable:
        await _guard(report, bad.row.path, _quarantine_row(catalog, root, bad.row, bad.reason, report))


async def _guard(report: RecoveryReport, path: str, work: Awaitable[None]) -> None:
    """Run one item's fix; a refused catalog write or file error is reported, not raised."""
    try:
        await work
    except CatalogUnavailable:
        raise
    except (CatalogError, OSError) as exc:
        log.error("recovery could not fix %s: %s", path, exc)
        report.errors.append(f"{path}: {exc}")


# -- deletes and runs ------------------------------------------------------


def _unlink_all(root: Path, paths: list[str]) -> list[str]:
    """Unlink each file if present, fsync each folder once; return the paths now gone."""
    gone, folders = [], set()
    for rel in paths:
        try:
            (root / rel).unlink()
            folders.add((root / rel).parent)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("cannot delete %s: %s", root / rel, exc)
            continue
        gone.append(rel)
    for folder in folders:
        fsync_dir(folder)
    return gone


async def finish_deletes(catalog: Catalog, root: Path, rows: list[RowEntry], report: RecoveryReport) -> None:
    """Steps 2 and 3 of a delete whose step 1 (mark garbage) is durable."""
    if not rows:
        return
    gone = set(await asyncio.to_thread(_unlink_all, root, [r.path for r in rows]))
    done = [r for r in rows if r.path in gone]
    await catalog.delete_segments(r.id for r in done)
    report.deletes_finished += [r.path for r in done]
    log.info("finished %d interrupted delete(s)", len(done))


async def end_open_runs(catalog: Catalog, report: RecoveryReport) -> None:
    """End every run left open by a crash at its last segment's end (its start if it has none); one transaction."""
    ended = await catalog.end_open_runs(RECOVERY_REASON)
    for run_id, camera_id, at in ended:
        log.debug("run %d (camera id %d) was left open by a crash; ended at %d", run_id, camera_id, at)
    if ended:
        log.warning("%d run(s) left open by a crash ended at their last segment (run ids %s%s)", len(ended),
                    ", ".join(str(r[0]) for r in ended[:10]), ", ..." if len(ended) > 10 else "")
    report.runs_ended += [r[0] for r in ended]


# -- files without rows --------------------------------------------------------


class _Candidate(NamedTuple):
    camera: str
    run_key: int
    start_us: int
    relpath: str  # as found (maybe .part)
    final: str  # the .mp4 name it is indexed under
    partial: bool


class _Ready(NamedTuple):
    size: int
    sha256: str
    probe: Probe
    cut: int


async def _index_files(catalog: Catalog, root: Path, files: Iterable[tuple[FileEntry, bool]],
                       report: RecoveryReport) -> None:
    """Make each orphaned file a row in its run, in time order; quarantine what does not play."""
    candidates = []
    for entry, partial in files:
        final = entry.relpath[: -len(PARTIAL_SUFFIX)] if partial else entry.relpath
        parsed = parse_relpath(final)
        if parsed is None:
            continue
        camera, start, run_key, _ = parsed
        candidates.append(_Candidate(camera, run_key, utc_us(start), entry.relpath, final, partial))
    runs: dict[tuple[str, int], Run] = {}
    # Cutting, demuxing and hashing (the slow part) runs a few files ahead in threads; rows go in in time order.
    pending = iter(sorted(candidates, key=lambda c: (c.camera, c.run_key, c.start_us, c.partial)))
    ahead: collections.deque[tuple[_Candidate, asyncio.Future[_Ready | str]]] = collections.deque()
    try:
        while True:
            while len(ahead) < PREPARE_AHEAD and (nxt := next(pending, None)) is not None:
                ahead.append((nxt, asyncio.ensure_future(asyncio.to_thread(_prepare, root, nxt))))
            if not ahead:
                return
            cand, prepared = ahead.popleft()
            await _guard(report, cand.relpath, _index_one(catalog, root, cand, prepared, runs, report))
    finally:
        for _, prepared in ahead:  # only after an error: the threads finish; their files stay orphans
            prepared.cancel()


async def _index_one(catalog: Catalog, root: Path, cand: _Candidate, prepared: Awaitable[_Ready | str],
                     runs: dict[tuple[str, int], Run], report: RecoveryReport) -> None:
    outcome = await prepared
    if isinstance(outcome, str):
        if outcome == "empty":
            report.removed_empty.append(cand.relpath)
        else:
            await _quarantine_file(root, cand.relpath, outcome, report)
        return
    if outcome.cut:
        report.truncated.append((cand.final, outcome.cut))
    key = (cand.camera, cand.run_key)
    if key not in runs:
        run = await catalog.run_by_start(cand.camera, cand.run_key)
        if run is None:
            run = await catalog.insert_ended_run(cand.camera, cand.run_key, cand.run_key, RECOVERY_REASON)
            report.runs_created.append(run.id)
            log.warning("re-created run %d of %s (key %d) for recovered footage", run.id, cand.camera, cand.run_key)
        runs[key] = run
    run = runs[key]
    info = outcome.probe
    start = cand.start_us
    end = start + max(1, info.media_duration * 1_000_000 // MEDIA_TIMEBASE)
    prev, nxt = await catalog.segment_neighbours(run.id, start)
    if prev is not None and start < prev.end_time:  # clock rounding against the previous segment
        start, end = prev.end_time, prev.end_time + (end - start)
    if nxt is not None and end > nxt.start_time:
        end = nxt.start_time
    if end <= start:
        await _quarantine_file(root, cand.final, "no room for it in its run", report)
        return
    try:
        seg = await catalog.add_recovered_segment(
            run_id=run.id, start_time=start, end_time=end, media_duration=info.media_duration, path=cand.final,
            size_bytes=outcome.size, sha256=outcome.sha256, frames=info.frames, keyframes=info.keyframes,
            codec=info.codec, width=info.width, height=info.height)
    except CatalogUnavailable:
        raise
    except CatalogError as exc:
        await _quarantine_file(root, cand.final, f"catalog refused it: {exc}", report)
        return
    report.indexed.append(seg.path)
    log.warning("indexed recovered segment %s (%d frames, %.1f s) into run %d",
                seg.path, seg.frames, seg.duration_s, run.id)


def _prepare(root: Path, cand: _Candidate) -> _Ready | str:
    """Cut, verify, rename (``.part``) and hash one file; or say why not ("empty" or a reason)."""
    path = root / cand.relpath
    target = root / cand.final
    if cand.partial and target.exists():
        return "a finished segment with the same name exists"
    scan = scan_fragments(path)
    if cand.partial and (scan.size == 0 or (scan.complete_end is not None and scan.complete_end == scan.header_end)):
        path.unlink()  # no complete fragment: at most the open one, which a crash may lose
        fsync_dir(path.parent)
        return "empty"
    if scan.complete_end is None:
        return "no intact ftyp + moov header"
    kept = truncate_to_complete_fragments(path)
    assert kept is not None
    try:
        info = probe(path)
    except UnplayableError as exc:
        return str(exc)
    if cand.partial:
        durable_rename(path, target)
    elif kept < scan.size:
        fsync_file(path)
    size, sha = file_digest(target)
    return _Ready(size, sha, info, scan.size - kept)


# -- rows without (good) files ---------------------------------------------------


async def _remove_rows(catalog: Catalog, rows: list[RowEntry], report: RecoveryReport) -> None:
    """Rows whose file is gone: the footage is lost; the row goes, leaving a gap."""
    if not rows:
        return
    for row in rows:
        log.error("segment file MISSING: %s (row %d, %d bytes): removing its row; the footage is lost",
                  row.path, row.id, row.size_bytes)
    ids = [r.id for r in rows]
    await catalog.mark_segment_garbage(ids)
    await catalog.delete_segments(ids)
    report.rows_removed += [r.path for r in rows]


async def _fix_row(catalog: Catalog, root: Path, mismatch: Mismatch, report: RecoveryReport) -> None:
    """A file whose size or hash differs from its row: fix the row if it plays, else quarantine."""
    row = mismatch.row
    seg = await catalog.get_segment(row.id)
    if seg is None or seg.state != "ok":
        return
    outcome = await asyncio.to_thread(_verify_in_place, root / row.path)
    if isinstance(outcome, str):
        await _quarantine_row(catalog, root, row, outcome, report)
        return
    info = outcome.probe
    end = min(seg.end_time, seg.start_time + max(1, info.media_duration * 1_000_000 // MEDIA_TIMEBASE))
    await catalog.update_segment_file(row.id, size_bytes=outcome.size, sha256=outcome.sha256, frames=info.frames,
                                      keyframes=info.keyframes, media_duration=info.media_duration, end_time=end)
    log.error("segment %s changed on disk (catalog: %d bytes %s..., now %d bytes %s...); it still plays, "
              "so its row now describes the file", row.path, row.size_bytes, row.sha256[:12], outcome.size,
              outcome.sha256[:12])
    report.rows_fixed.append(row.path)


def _verify_in_place(path: Path) -> _Ready | str:
    scan = scan_fragments(path)
    kept = truncate_to_complete_fragments(path)
    if kept is None:
        return "no intact ftyp + moov header"
    try:
        info = probe(path)
    except UnplayableError as exc:
        return str(exc)
    if kept < scan.size:
        fsync_file(path)
    size, sha = file_digest(path)
    return _Ready(size, sha, info, scan.size - kept)


async def _quarantine_row(catalog: Catalog, root: Path, row: RowEntry, reason: str,
                          report: RecoveryReport) -> None:
    """Move the file aside first, then drop the row: a crash in between leaves a row without a file."""
    await _quarantine_file(root, row.path, reason, report)
    await catalog.mark_segment_garbage([row.id])
    await catalog.delete_segments([row.id])


# -- quarantine ----------------------------------------------------------------


async def _quarantine_file(root: Path, relpath: str, reason: str, report: RecoveryReport) -> None:
    moved = await asyncio.to_thread(quarantine, root, relpath)
    log.error("quarantined %s as %s: %s", relpath, moved, reason)
    report.quarantined.append((relpath, reason))


def quarantine(root: Path, relpath: str) -> str:
    """Move ``root/relpath`` to ``root/.quarantine/relpath`` (never overwriting); return the new relative path."""
    src = root / relpath
    dst = root / QUARANTINE_DIR / relpath
    n = 0
    while dst.exists():
        n += 1
        dst = root / QUARANTINE_DIR / f"{relpath}.{n}"
    make_dirs_durable(dst.parent, root)
    os.replace(src, dst)
    fsync_dir(dst.parent)
    fsync_dir(src.parent)
    return dst.relative_to(root).as_posix()
