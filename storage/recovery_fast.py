"""Bounded start-up recovery: pending deletes, open runs, and each camera's most recent folders only."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

from nvr.clock import Clock, SystemClock, from_utc_us, now_us
from nvr.storage.catalog import Catalog
from nvr.storage.check import CheckReport, RowEntry, _classify_orphan, _compare, _garbage
from nvr.storage.recovery import RecoveryReport, apply_findings, end_open_runs, finish_deletes
from nvr.storage.walk import MAX_DEPTH, WALK_THREADS, FileEntry, _file_entry, _sorted_entries

__all__ = ["CLEAN_MARGIN_US", "CRASH_MARGIN_US", "recover_recent", "window_lower", "window_start"]

log = logging.getLogger(__name__)

CRASH_MARGIN_US = 10 * 60 * 1_000_000
"""After a crash a camera's window starts this long before its latest segment (see "Start-up recovery")."""
CLEAN_MARGIN_US = 0
"""After a clean shutdown each camera's latest segment and anything newer is enough."""


class _Window(NamedTuple):
    files: list[FileEntry]
    unreadable: list[str]


def window_start(latest_us: int | None, reference_us: int, margin_us: int) -> int | None:
    """The earliest segment start a camera's window covers; ``None``: the whole camera folder.

    ``reference_us`` (the shutdown time, or now after a crash) caps the
    latest segment, so a camera whose clock ran ahead still gets its folders
    from about the reference time on.
    """
    if latest_us is None:
        return None
    return min(latest_us, reference_us) - margin_us


def window_lower(camera: str, start_us: int | None) -> str:
    """The window's lower bound: every path that sorts after it is in the window.

    ``camera/YYYY-MM-DD/HH/YYYYmmddTHHMMSS.ffffff``: segment names start
    with their start time (``storage.layout``), so within the camera's
    folder the paths of segments starting at or after ``start_us`` sort
    after it, and the rest before it.
    """
    if start_us is None or start_us < 0:
        return f"{camera}/"
    t = from_utc_us(start_us)
    return f"{camera}/{t:%Y-%m-%d}/{t:%H}/{t:%Y%m%dT%H%M%S.%f}"


def _camera_folders(root: Path) -> list[str]:
    """Names of the (non-hidden) folders directly under the root: one per camera."""
    return [key[:-1] for key, _ in _sorted_entries(root) if key.endswith("/")]


def _list_window(root: Path, camera: str, lower: str) -> _Window:
    """Files under ``root/camera`` whose relative path sorts after ``lower``; folders wholly before it stay unread."""
    out = _Window([], [])
    _list_pruned(str(root / camera), f"{camera}/", lower, out, 1)
    return out


def _list_pruned(folder: str, prefix: str, lower: str, out: _Window, depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    try:
        listing = _sorted_entries(folder)
    except OSError as exc:
        log.error("cannot list %s: %s", folder, exc)
        out.unreadable.append(prefix)
        return
    for key, entry in listing:
        path = prefix + key
        if key.endswith("/"):
            # Everything under `path` sorts before `lower` unless path >= lower or path is a prefix of it.
            if path >= lower or lower.startswith(path):
                _list_pruned(entry.path, path, lower, out, depth + 1)
        elif path >= lower and (found := _file_entry(entry, path)) is not None:
            out.files.append(found)


def _list_windows(root: Path, lowers: dict[str, str]) -> dict[str, _Window]:
    """``_list_window`` for each camera folder, a few in parallel (a cold disk sees several stats in flight)."""
    names = sorted(set(_camera_folders(root)) & set(lowers))
    with ThreadPoolExecutor(max_workers=WALK_THREADS, thread_name_prefix="nvr-recent") as pool:
        return dict(zip(names, pool.map(lambda n: _list_window(root, n, lowers[n]), names), strict=True))


def compare_windows(root: Path, windows: dict[str, _Window], rows: list[RowEntry]) -> CheckReport:
    """The check's findings for the windows alone: ``rows`` are the catalog's rows in the same path ranges."""
    report = CheckReport(root=root)
    files = {f.relpath: f for w in windows.values() for f in w.files}
    blind = tuple(p for w in windows.values() for p in w.unreadable)
    report.unreadable = list(blind)
    for row in rows:
        report.rows += 1
        entry = files.pop(row.path, None)
        if entry is not None:
            _compare(entry, row, report)
        elif blind and row.path.startswith(blind):
            continue
        elif row.state != "ok":
            _garbage(row, report)
        else:
            report.missing_files.append(row)
    now = time.time()
    for entry in sorted(files.values()):
        _classify_orphan(entry, report, now)
    return report


async def recover_recent(catalog: Catalog, root: Path, *, reference_us: int, margin_us: int,
                         clock: Clock | None = None, label: str = "") -> RecoveryReport:
    """Start-up recovery bounded by the recent past instead of the size of the store.

    1. finish interrupted deletes (every ``garbage`` row);
    2. end every open run at its last segment;
    3. for each camera (in the catalog or on disk), compare the files and
       rows of segments starting at or after ``window_start(latest segment,
       reference_us, margin_us)`` (``window_lower``), and repair them as the full
       ``recover()`` would: ``.part`` files, files without rows, rows
       without files (with the unmounted-disk safety valve), size mismatches.
       A camera without any segment row is compared as a whole.
    """
    started = time.monotonic()
    root = Path(root)
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    report = RecoveryReport()
    garbage = [RowEntry(s.id, s.path, s.size_bytes, s.sha256, s.state) for s in await catalog.garbage_segments()]
    await finish_deletes(catalog, root, garbage, report)
    await end_open_runs(catalog, report)
    latest = await catalog.latest_segment_starts()
    on_disk = await asyncio.to_thread(_camera_folders, root)
    starts = {name: window_start(latest.get(name), reference_us, margin_us) for name in set(latest) | set(on_disk)}
    lowers = {name: window_lower(name, start) for name, start in sorted(starts.items())}
    rows = await catalog.segment_files_in([(lowers[name], name + "0") for name in sorted(latest)])
    windows = await asyncio.to_thread(_list_windows, root, lowers)
    scan = await asyncio.to_thread(compare_windows, root, windows, [RowEntry._make(r) for r in rows])
    scan.elapsed_s = time.monotonic() - started
    await apply_findings(catalog, scan, report)
    report.scan = scan
    report.finished_at = now_us(clock or SystemClock())
    report.elapsed_s = time.monotonic() - started
    level = logging.WARNING if report.changed or report.errors or not scan.clean else logging.INFO
    whole = sum(1 for s in starts.values() if s is None)
    earliest = min((s for s in starts.values() if s is not None), default=None)
    log.log(level, "storage recovery of %s (%s: %d camera(s) from their latest segment minus %s"
            "%s%s; %d row(s), %d file(s) compared) in %.2f s: %s", root, label or "recent folders", len(starts),
            timedelta(microseconds=margin_us), f", earliest {from_utc_us(earliest):%Y-%m-%d %H:%M:%S} UTC"
            if earliest is not None else "", f", {whole} without footage in the catalog walked whole" if whole else "",
            scan.rows, scan.files, report.elapsed_s, report.summary())
    return report
