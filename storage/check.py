"""Compare the storage tree with the catalog: by name and size (fast), or also by SHA-256 and demux (deep)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import av

from nvr.clock import from_utc_us
from nvr.models import MEDIA_TIMEBASE
from nvr.segments import file_digest
from nvr.storage.catalog import Catalog
from nvr.storage.layout import PARTIAL_SUFFIX, parse_relpath
from nvr.storage.walk import UNREADABLE, FileEntry, walk

if TYPE_CHECKING:
    from nvr.models import Run
    from nvr.storage.recovery import RecoveryReport

__all__ = ["CheckReport", "FileEntry", "Mismatch", "Probe", "RowEntry", "Unplayable", "UnplayableError",
           "check", "probe", "repair", "walk"]

log = logging.getLogger(__name__)

PAGE = 5000
"""Catalog rows fetched per query while walking."""
IN_FLIGHT_S = 300.0
"""While nvr runs, a file this young without a row may still sit in the index queue."""
SHOW = 100
"""Findings printed per kind before '... and N more'."""


class RowEntry(NamedTuple):
    """The part of a catalog row the check compares."""

    id: int
    path: str
    size_bytes: int
    sha256: str
    state: str


class Mismatch(NamedTuple):
    """A row whose file differs: its size, and (deep) its SHA-256."""

    row: RowEntry
    size: int
    sha256: str | None = None


class Unplayable(NamedTuple):
    """A row whose file matches the catalog but does not demux."""

    row: RowEntry
    reason: str


class Probe(NamedTuple):
    """What demuxing a segment file found; ``media_duration`` in 90 kHz units, from packet timestamps."""

    frames: int
    keyframes: int
    media_duration: int
    codec: str
    width: int | None
    height: int | None


class UnplayableError(Exception):
    """PyAV cannot demux the file, or it holds no video frame."""


def probe(path: Path) -> Probe:
    """Demux ``path`` with PyAV (no decoding); raise ``UnplayableError`` if that fails or finds no frame."""
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise UnplayableError("no video stream")
            stream = container.streams.video[0]
            frames = keyframes = 0
            first = last = None
            last_duration = 0
            for packet in container.demux(stream):
                if packet.size == 0 or packet.dts is None:
                    continue
                frames += 1
                keyframes += bool(packet.is_keyframe)
                first = packet.dts if first is None else first
                last, last_duration = packet.dts, packet.duration or 0
            if frames == 0 or first is None or last is None:
                raise UnplayableError("no video frames")
            if not last_duration:
                last_duration = round((last - first) / (frames - 1)) if frames > 1 else 0
            ticks = (last - first + last_duration) * stream.time_base * MEDIA_TIMEBASE
            ctx = stream.codec_context
            return Probe(frames, keyframes, round(ticks), ctx.name, ctx.width or None, ctx.height or None)
    except UnplayableError:
        raise
    except FileNotFoundError:
        raise
    except (av.error.FFmpegError, IndexError, ValueError, TypeError, ZeroDivisionError, EOFError) as exc:
        raise UnplayableError(f"PyAV cannot demux it: {exc}") from exc


@dataclass
class CheckReport:
    """Findings of one check; ``clean`` when there is nothing to repair."""

    root: Path
    deep: bool = False
    live: bool = False
    rows: int = 0
    files: int = 0
    bytes: int = 0
    missing_files: list[RowEntry] = field(default_factory=list)
    unindexed_files: list[FileEntry] = field(default_factory=list)
    partial_files: list[FileEntry] = field(default_factory=list)
    size_mismatches: list[Mismatch] = field(default_factory=list)
    hash_mismatches: list[Mismatch] = field(default_factory=list)
    unplayable: list[Unplayable] = field(default_factory=list)
    garbage_rows: list[RowEntry] = field(default_factory=list)
    open_runs: list[Run] = field(default_factory=list)
    unknown_files: list[str] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    """Folders that could not be listed; their rows are neither missing nor verified."""
    elapsed_s: float = 0.0

    @property
    def problems(self) -> int:
        """Findings that need a repair (unknown and in-flight files do not)."""
        return (len(self.missing_files) + len(self.unindexed_files) + len(self.partial_files)
                + len(self.size_mismatches) + len(self.hash_mismatches) + len(self.unplayable)
                + len(self.garbage_rows) + len(self.open_runs) + len(self.unreadable))

    @property
    def clean(self) -> bool:
        return self.problems == 0

    def lines(self) -> list[str]:
        """Human-readable findings, one per line, ending with a verdict."""
        out = [f"{self.root}: {self.rows} catalog row(s), {self.files} segment file(s), "
               f"{_human(self.bytes)}, checked in {self.elapsed_s:.1f} s"
               f"{' (deep: SHA-256 and demux)' if self.deep else ''}"]
        if self.live:
            out.append("note: nvr is running on this storage; files it is writing or indexing are not counted")
        kinds: list[tuple[str, list[str]]] = [
            ("MISSING", [f"{r.path} (row {r.id}): file is gone; repair removes the row, leaving a gap"
                         for r in self.missing_files]),
            ("UNINDEXED", [f"{f.relpath} ({f.size} bytes): file without a catalog row" for f in self.unindexed_files]),
            ("PARTIAL", [f"{f.relpath} ({f.size} bytes): unfinished segment left by a crash"
                         for f in self.partial_files]),
            ("SIZE", [f"{m.row.path} (row {m.row.id}): catalog says {m.row.size_bytes} bytes, file has {m.size}"
                      for m in self.size_mismatches]),
            ("HASH", [f"{m.row.path} (row {m.row.id}): SHA-256 {m.sha256} differs from the catalog's {m.row.sha256}"
                      for m in self.hash_mismatches]),
            ("UNPLAYABLE", [f"{u.row.path} (row {u.row.id}): {u.reason}" for u in self.unplayable]),
            ("PENDING-DELETE", [f"{r.path} (row {r.id}): marked garbage, delete not finished"
                                for r in self.garbage_rows]),
            ("OPEN-RUN", [f"run {r.id} (camera id {r.camera_id}) started {from_utc_us(r.started_at):%Y-%m-%d %H:%M:%S}"
                          " UTC and never ended" for r in self.open_runs]),
            ("UNREADABLE", [f"{p}: cannot list this folder; its rows were not checked (repair leaves them)"
                            for p in self.unreadable]),
            ("UNKNOWN", [f"{p}: not a segment name; left alone" for p in self.unknown_files]),
            ("IN-FLIGHT", [f"{p}: being written or indexed by the running nvr" for p in self.in_flight]),
        ]
        for tag, items in kinds:
            out += [f"{tag:<14} {item}" for item in items[:SHOW]]
            if len(items) > SHOW:
                out.append(f"{tag:<14} ... and {len(items) - SHOW} more")
        out.append("clean" if self.clean else f"{self.problems} problem(s); `nvr check-storage --repair` fixes them")
        return out


def _human(size: int) -> str:
    value, unit = float(size), "bytes"
    for bigger in ("kB", "MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def _classify_orphan(entry: FileEntry, report: CheckReport, now: float) -> None:
    """A file no row names: unfinished, unindexed, in flight, or not ours at all."""
    name = entry.relpath
    partial = name.endswith(PARTIAL_SUFFIX) and parse_relpath(name[: -len(PARTIAL_SUFFIX)]) is not None
    if not partial and parse_relpath(name) is None:
        report.unknown_files.append(name)
        return
    report.files += 1
    report.bytes += entry.size
    if report.live and (partial or now - entry.mtime < IN_FLIGHT_S):
        report.in_flight.append(name)
    else:
        (report.partial_files if partial else report.unindexed_files).append(entry)


def _garbage(row: RowEntry, report: CheckReport) -> None:
    """A row marked for deletion: an unfinished delete, or (nvr running) one under way."""
    if report.live:
        report.in_flight.append(row.path)
    else:
        report.garbage_rows.append(row)


def _compare(entry: FileEntry, row: RowEntry, report: CheckReport) -> None:
    """A file and the row that names it."""
    report.files += 1
    report.bytes += entry.size
    if row.state != "ok":
        _garbage(row, report)
    elif entry.size != row.size_bytes:
        report.size_mismatches.append(Mismatch(row, entry.size))
    elif report.deep:
        path = report.root / row.path
        size, sha = file_digest(path)
        if sha != row.sha256 or size != row.size_bytes:
            report.hash_mismatches.append(Mismatch(row, size, sha))
            return
        try:
            probe(path)
        except UnplayableError as exc:
            report.unplayable.append(Unplayable(row, str(exc)))


def scan_store(root: Path, rows: Iterator[RowEntry], *, deep: bool = False, live: bool = False) -> CheckReport:
    """Merge the sorted walk of ``root`` with ``rows`` sorted by path (blocking; run it in a thread).

    Memory stays flat however big the store is: one folder listing and one
    page of rows at a time, plus the findings.
    """
    started = time.monotonic()
    now = time.time()
    report = CheckReport(root=root, deep=deep, live=live)
    files = walk(root)
    f, r = next(files, None), next(rows, None)
    blind = "\0"  # prefix of the last unreadable folder: rows under it cannot be judged
    while f is not None or r is not None:
        if r is None or (f is not None and f.relpath < r.path):
            assert f is not None
            if f.size == UNREADABLE:
                blind = f.relpath
                report.unreadable.append(f.relpath)
            else:
                _classify_orphan(f, report, now)
            f = next(files, None)
        elif f is None or r.path < f.relpath:
            report.rows += 1
            if r.path.startswith(blind):
                pass
            elif r.state != "ok":
                _garbage(r, report)
            else:
                report.missing_files.append(r)
            r = next(rows, None)
        else:
            report.rows += 1
            _compare(f, r, report)
            f, r = next(files, None), next(rows, None)
    report.elapsed_s = time.monotonic() - started
    return report


def _paged_rows(submit: Callable[[str], Future[list[tuple[int, str, int, str, str]]]]) -> Iterator[RowEntry]:
    """Rows in path order, asking for the next page before handing out the current one."""
    future = submit("")
    while True:
        page = future.result()
        if len(page) >= PAGE:
            future = submit(page[-1][1])
        yield from map(RowEntry._make, page)
        if len(page) < PAGE:
            return


async def check(catalog: Catalog, root: Path, deep: bool = False, *, live: bool = False) -> CheckReport:
    """Compare disk and catalog. ``live``: nvr is recording to ``root`` right now (see ``storage_in_use``).

    The walk runs in a thread that pulls pages of rows from the catalog
    through the event loop; nothing is hashed unless ``deep``.
    """
    loop = asyncio.get_running_loop()
    started = time.monotonic()

    def submit(after: str) -> Future[list[tuple[int, str, int, str, str]]]:
        return asyncio.run_coroutine_threadsafe(catalog.segment_files(after, PAGE), loop)

    report = await asyncio.to_thread(scan_store, Path(root), _paged_rows(submit), deep=deep, live=live)
    if live:
        await _confirm(catalog, report)
    else:
        report.open_runs = await catalog.open_runs()
    report.elapsed_s = time.monotonic() - started
    level = logging.INFO if report.clean else logging.WARNING
    log.log(level, "storage check of %s: %d row(s), %d file(s), %d problem(s) in %.2f s",
            root, report.rows, report.files, report.problems, report.elapsed_s)
    return report


async def _confirm(catalog: Catalog, report: CheckReport) -> None:
    """While nvr runs, drop findings that a delete or index finished since the walk passed them."""
    still_missing = []
    for row in report.missing_files:
        seg = await catalog.get_segment(row.id)
        if seg is not None and seg.state == "ok" and not await asyncio.to_thread((report.root / row.path).exists):
            still_missing.append(row)
    report.missing_files = still_missing
    still_orphaned = []
    for entry in report.unindexed_files:
        if await asyncio.to_thread((report.root / entry.relpath).exists) and \
                await catalog.segment_by_path(entry.relpath) is None:
            still_orphaned.append(entry)
    report.unindexed_files = still_orphaned


async def repair(catalog: Catalog, report: CheckReport, *, force: bool = False) -> RecoveryReport:
    """Apply the fixes startup recovery applies to the findings of ``report`` (nvr must be stopped).

    ``force``: remove rows without files even if so many are missing that the disk looks unmounted.
    """
    from nvr.storage.recovery import apply_fixes  # recovery builds on this module

    if report.live:
        raise RuntimeError("refusing to repair a storage root nvr is recording to; stop nvr first")
    return await apply_fixes(catalog, report, force=force)
