"""Start-up part of the catalog benchmark: the bounded start-up recovery after a clean shutdown and after a crash.

Used by ``scripts/bench_catalog.py``. Works on a copy of a built catalog and
a storage root holding real (sparse) files for exactly what the start-up
recovery looks at: each camera's hour folders from ten minutes before its
latest segment on (the crash window, which contains the clean one), plus the
camera's date folders and the window's hour folders, so the listings it does
see realistic entries. Optionally one real fragmented-MP4 ``.part`` per
camera, cut inside its last fragment, as a ``kill -9`` leaves them.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

PART_FPS = 25
TICKS = 90_000 // PART_FPS


@dataclass
class StartupRun:
    mode: str
    open_s: float
    recover_s: float
    rows: int
    files: int
    runs_ended: int
    indexed: int
    changed: str

    @property
    def total_s(self) -> float:
        return self.open_s + self.recover_s

    def note(self) -> str:
        return (f"open_catalog {self.open_s * 1000:.0f} ms + StartupRecovery.recover() {self.recover_s:.2f} s "
                f"({self.mode} path): {self.rows:,} rows and {self.files:,} files compared, "
                f"{self.runs_ended:,} open runs ended, {self.indexed:,} files indexed; {self.changed}")


def _latest(conn: sqlite3.Connection) -> dict[str, int]:
    sql = ("SELECT c.name, (SELECT s.start_time FROM segments s WHERE s.camera_id = c.id"
           " ORDER BY s.start_time DESC LIMIT 1) FROM cameras c")
    return {name: start for name, start in conn.execute(sql) if start is not None}


def make_window_store(db: Path, root: Path, reference_us: int) -> tuple[int, int]:
    """Sparse files (recorded size) for each row in the hour folders of every crash window, and the folders around.

    Returns (files, folders) created.
    """
    from nvr.clock import from_utc_us
    from nvr.storage.recovery_fast import CRASH_MARGIN_US, window_lower, window_start

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        latest = _latest(conn)
        rows: list[tuple[str, int]] = []
        folders: set[str] = set()
        for name, last in latest.items():
            # The whole hour folder the window starts in: start-up lists all of it (and stats the window's files).
            lower = window_lower(name, window_start(last, reference_us, CRASH_MARGIN_US)).rsplit("/", 1)[0] + "/"
            rows += conn.execute("SELECT path, size_bytes FROM segments WHERE path > ? AND path < ?",
                                 (lower, name + "0")).fetchall()
            first = conn.execute("SELECT min(start_time) FROM segments WHERE camera_id = "
                                 "(SELECT id FROM cameras WHERE name = ?)", (name,)).fetchone()[0]
            day = from_utc_us(first).date()
            while day <= from_utc_us(last).date():  # every date folder of the camera
                folders.add(f"{name}/{day:%Y-%m-%d}")
                day = day.fromordinal(day.toordinal() + 1)
            for date in {lower.split("/")[1], f"{from_utc_us(last):%Y-%m-%d}"}:  # the hours of the window's dates
                folders.update(f"{name}/{date}/{h:02d}" for h in range(24))
    finally:
        conn.close()
    for folder in sorted(folders):
        os.makedirs(root / folder, exist_ok=True)
    for path, size in rows:
        os.makedirs((root / path).parent, exist_ok=True)
        fd = os.open(root / path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)
    return len(rows), len(folders)


def crash_state(db: Path) -> int:
    """Make the catalog look killed: each camera's last run open again, no clean-shutdown marker."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        n = conn.execute("UPDATE runs SET ended_at = NULL, reason_ended = NULL WHERE id IN "
                         "(SELECT max(id) FROM runs GROUP BY camera_id)").rowcount
        conn.execute("DELETE FROM meta WHERE key = 'startup.clean_shutdown'")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return n


def evict(db: Path) -> None:
    """Drop the catalog file from the OS page cache (POSIX_FADV_DONTNEED after fsync): a cold catalog."""
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


async def timed_start(db: Path, root: Path, expect: str) -> StartupRun:
    """``open_catalog`` + ``StartupRecovery.recover()`` (timed), then a clean ``stop()`` (not timed)."""
    from nvr.storage.catalog import open_catalog
    from nvr.storage.recovery_startup import StartupRecovery

    t0 = time.perf_counter()
    cat = await open_catalog(str(db))
    try:
        t1 = time.perf_counter()
        startup = StartupRecovery(cat, root)
        report = await startup.recover()
        t2 = time.perf_counter()
        await startup.stop()
    finally:
        await cat.close()
    if startup.mode != expect:
        raise SystemExit(f"bench_catalog: expected a {expect} start-up, got {startup.mode}: {startup.reason}")
    scan = report.scan
    other = [report.quarantined, report.rows_removed, report.rows_fixed, report.removed_empty, report.errors]
    changed = "nothing else changed" if not any(other) else f"ALSO CHANGED: {report.summary()}"
    return StartupRun(startup.mode, t1 - t0, t2 - t1, scan.rows if scan else 0, scan.files if scan else 0,
                      len(report.runs_ended), len(report.indexed), changed)


# --------------------------------------------------------------------------- .part files


def part_template(path: Path, seconds: float) -> int:
    """A fragmented MP4 of ``seconds`` of the simulator's 1280x720 clip (looped), cut inside its last fragment."""
    import av

    from nvr.sim.clip import ensure_rendered
    from nvr.storage.fmp4 import iter_boxes

    source = ensure_rendered()["main"]
    frames = round(seconds * PART_FPS) + PART_FPS  # one GOP more: the fragment the kill cuts
    with av.open(str(path), "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov+default_base_moof"}) \
            as out:
        ost = None
        n = 0
        while n < frames:  # loop the clip; it starts with a keyframe (SPS/PPS in band)
            with av.open(str(source), format="h264") as inp:
                if ost is None:
                    ost = out.add_stream_from_template(inp.streams.video[0])
                    ost.time_base = Fraction(1, 90_000)
                for packet in inp.demux(video=0):
                    if not packet.size or n >= frames:
                        continue
                    packet.stream, packet.pts, packet.dts, packet.duration = ost, n * TICKS, n * TICKS, TICKS
                    packet.time_base = ost.time_base
                    out.mux(packet)
                    n += 1
    with open(path, "rb") as f:
        last = [b for b in iter_boxes(f, path.stat().st_size) if b.type == "mdat"][-1]
    os.truncate(path, last.offset + last.size // 2)
    return path.stat().st_size


def plant_parts(db: Path, root: Path, template: Path, count: int) -> int:
    """Copy ``template`` as the ``.part`` of the next segment of each of the first ``count`` cameras' last run."""
    from nvr.clock import from_utc_us
    from nvr.storage.layout import partial_path, segment_relpath

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT c.name, r.started_at, s.seq, s.end_time FROM cameras c"
            " JOIN runs r ON r.id = (SELECT max(id) FROM runs WHERE camera_id = c.id)"
            " JOIN segments s ON s.id = (SELECT id FROM segments WHERE run_id = r.id ORDER BY seq DESC LIMIT 1)"
            " ORDER BY c.name LIMIT ?", (count,)).fetchall()
    finally:
        conn.close()
    data = template.read_bytes()
    for name, run_key, seq, end in rows:
        final = root / segment_relpath(name, from_utc_us(end), run_key, seq + 1)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial_path(final).write_bytes(data)
    return len(rows)


def human_bytes(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
