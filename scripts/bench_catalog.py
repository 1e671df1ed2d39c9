"""Catalog benchmark: a 10-million-segment SQLite catalog, its queries, retention planning, start-up.

Run with ``scripts/bench_catalog`` (uses the project's virtual environment).

1. **Build** (cached): a catalog for ``--cameras`` cameras (default 1,500)
   holding ``--segments`` 60 s segments (default 10,000,000), about 4.6 days
   per camera, recorded time-major (every camera each minute) in runs of one
   day. The schema comes from the real migrations (``open_catalog``); rows are
   bulk-inserted with ``sqlite3`` ``executemany`` in large transactions with the
   secondary indexes dropped and re-created from the migrations' own SQL.
   The file is cached under ``.cache/bench/`` keyed by the parameters and a
   digest of the migrations, so re-runs skip the build (``--rebuild`` forces).
2. **Time-window query**: ``catalog.segments(camera, start, end)`` for one
   random camera over a random 1-hour window, ``--queries`` times (default
   1,000), through the async catalog API; p50/p99. Target p99 < 5 ms.
3. **Retention planning**: a sweep whose age rule deletes about 100,000
   segments (``--retention-deletes``): the candidate queries against the
   catalog plus ``nvr.retention.plan_deletions``; no deletes. Target < 2 s.
4. **Start-up**: ``open_catalog`` (migrations check) + the bounded start-up
   recovery (``nvr.storage.recovery_startup.StartupRecovery.recover``) on a
   copy of the full catalog, after a crash (each camera's last run reopened,
   no marker) and after a clean shutdown (the marker the crash run's clean
   stop left), with the catalog file evicted from the page cache and warm.
   Real sparse files exist for what it compares (each camera's last hours;
   ``scripts/bench_catalog_startup.py``). Then a kill -9 with one real
   ``.part`` per camera (``--startup-parts``, ``--startup-part-seconds``).
   The old full ``recover()`` (now the background check) is measured on an
   intact store of ``--recovery-files`` real files, and the new start-up on
   the same store, in the same run. Target < 5 s.

All times are wall-clock on this machine. Nothing outside ``.cache/bench/``
and a temporary folder (removed at exit) is written.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BUILD_VERSION = 2
"""Bump when the generated data changes; it is part of the cache key."""

EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)
"""Start of the synthetic footage (UTC)."""
SEGMENT_BYTES = 15_000_000
"""Size recorded for each 60 s segment (2 Mbit/s)."""
FPS = 15

TARGET_QUERY_P99_MS = 5.0
TARGET_PLANNING_S = 2.0
TARGET_STARTUP_S = 5.0


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Params:
    cameras: int
    segments: int
    segment_s: int

    @property
    def minutes(self) -> int:
        """Segment slots per camera (the last slot may be filled for only some cameras)."""
        return -(-self.segments // self.cameras)

    @property
    def start_us(self) -> int:
        return int(EPOCH.timestamp()) * 1_000_000

    @property
    def end_us(self) -> int:
        return self.start_us + self.minutes * self.segment_s * 1_000_000

    def camera(self, index: int) -> str:
        return f"cam{index + 1:04d}"

    @property
    def segments_per_run(self) -> int:
        return max(1, 86_400 // self.segment_s)


def migrations_digest() -> str:
    from nvr.storage.migrations import load_migrations

    h = hashlib.sha256()
    for m in load_migrations():
        h.update(f"{m.version}|{m.name}|{m.sql}".encode())
    return h.hexdigest()[:12]


def cache_path(p: Params, cache_dir: Path) -> Path:
    return cache_dir / (f"catalog-{p.cameras}cam-{p.segments}seg-{p.segment_s}s-"
                        f"schema{migrations_digest()}-b{BUILD_VERSION}.db")


# --------------------------------------------------------------------------- build


def _segment_columns(conn: sqlite3.Connection) -> list[str]:
    """Check the segments table has no NOT NULL column we do not fill (the schema may grow)."""
    known = {"id", "camera_id", "run_id", "seq", "start_time", "end_time", "media_duration", "path",
             "size_bytes", "sha256", "frames", "keyframes", "codec", "width", "height", "state", "created_at"}
    cols = conn.execute("PRAGMA table_info(segments)").fetchall()
    unknown = [c[1] for c in cols if c[1] not in known and c[3] and c[4] is None]
    if unknown:
        raise SystemExit(f"bench_catalog: the segments table has new NOT NULL columns without defaults: "
                         f"{unknown}; teach bench_catalog.py to fill them")
    return [c[1] for c in cols]


def build(p: Params, dest: Path, log: Any) -> None:
    """Create the catalog with the real migrations, then bulk-load cameras, runs and segments."""
    from nvr.storage.catalog import open_catalog

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.building")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{tmp}{suffix}").unlink()
    started = time.monotonic()

    async def create() -> None:
        cat = await open_catalog(str(tmp))
        await cat.close()

    asyncio.run(create())
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -1000000")  # 1 GB page cache while loading
        conn.execute("PRAGMA temp_store = MEMORY")
        _segment_columns(conn)
        # Secondary indexes on segments: drop now, re-create from the migrations' SQL after the load.
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'segments' AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        cams = [p.camera(i) for i in range(p.cameras)]
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO cameras (id, name, kelurahan, kecamatan, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(i + 1, name, f"kel{i % 267:03d}", f"kec{i % 44:02d}", p.start_us, p.start_us)
             for i, name in enumerate(cams)],
        )
        # Runs: one per camera per day, all ended (a clean shutdown), ids camera-major.
        spr = p.segments_per_run
        runs_per_cam = -(-p.minutes // spr)
        seg_us = p.segment_s * 1_000_000
        run_rows = []
        for ci in range(p.cameras):
            for k in range(runs_per_cam):
                first = k * spr
                last = min(p.minutes, first + spr)  # exclusive
                run_rows.append((ci * runs_per_cam + k + 1, ci + 1, p.start_us + first * seg_us,
                                 p.start_us + last * seg_us, "shutdown"))
        conn.executemany("INSERT INTO runs (id, camera_id, started_at, ended_at, reason_ended) VALUES (?, ?, ?, ?, ?)",
                         run_rows)
        conn.execute("COMMIT")

        media = p.segment_s * 90_000
        frames = p.segment_s * FPS
        keyframes = max(1, p.segment_s // 2)
        sha = "0" * 64
        sql = ("INSERT INTO segments (camera_id, run_id, seq, start_time, end_time, media_duration, path,"
               " size_bytes, sha256, frames, keyframes, codec, width, height, state, created_at)"
               " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ok', ?)")

        def rows_for_minute(m: int, limit: int) -> list[tuple[Any, ...]]:
            start = p.start_us + m * seg_us
            dt = EPOCH + timedelta(seconds=m * p.segment_s)
            folder = f"{dt:%Y-%m-%d}/{dt:%H}/{dt:%Y%m%dT%H%M%S.%f}Z-r"
            k, seq = divmod(m, spr)
            # Segment names carry the run key, the run's start in UTC µs (storage.layout, recovery).
            name = f"{folder}{p.start_us + k * spr * seg_us}-{seq:05d}.mp4"
            out = []
            for ci in range(limit):
                run = ci * runs_per_cam + k + 1
                out.append((ci + 1, run, seq, start, start + seg_us, media, f"{cams[ci]}/{name}",
                            SEGMENT_BYTES, sha, frames, keyframes, "h264", 1280, 720, start + seg_us))
            return out

        batch: list[tuple[Any, ...]] = []
        written = 0
        last_report = time.monotonic()
        conn.execute("BEGIN")
        for m in range(p.minutes):
            batch.extend(rows_for_minute(m, min(p.cameras, p.segments - m * p.cameras)))
            if len(batch) >= 200_000:
                conn.executemany(sql, batch)
                written += len(batch)
                batch.clear()
                if time.monotonic() - last_report > 15:
                    conn.execute("COMMIT")
                    conn.execute("BEGIN")
                    last_report = time.monotonic()
                    log(f"  ... {written:,} / {p.segments:,} segments ({time.monotonic() - started:.0f} s)")
        if batch:
            conn.executemany(sql, batch)
            written += len(batch)
        conn.execute("COMMIT")
        log(f"  ... {written:,} segments inserted ({time.monotonic() - started:.0f} s); re-creating indexes")
        for _, index_sql in indexes:
            conn.execute(index_sql)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{tmp}{suffix}").unlink()
    os.replace(tmp, dest)
    log(f"  built {dest.name} ({dest.stat().st_size / 1e9:.2f} GB) in {time.monotonic() - started:.0f} s")


# --------------------------------------------------------------------------- measurements


@dataclass
class Result:
    name: str
    value: str
    target: str
    verdict: str
    note: str = ""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def warm_page_cache(db: Path) -> float:
    """Read the database file once so the queries below run against the OS page cache; return seconds."""
    t0 = time.perf_counter()
    with open(db, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass
    return time.perf_counter() - t0


async def bench_queries(db: Path, p: Params, n: int, rng: random.Random) -> list[Result]:
    from nvr.storage.catalog import open_catalog

    cat = await open_catalog(str(db))
    try:
        hour = 3_600_000_000
        span = max(1, p.end_us - p.start_us - hour)
        # Warm-up (first statement preparation, page cache): not timed.
        for _ in range(20):
            await cat.segments(p.camera(rng.randrange(p.cameras)), p.start_us, p.start_us + hour)
        times, counts = [], []
        for _ in range(n):
            camera = p.camera(rng.randrange(p.cameras))
            start = p.start_us + rng.randrange(span)
            t0 = time.perf_counter()
            found = await cat.segments(camera, start, start + hour)
            times.append((time.perf_counter() - t0) * 1000)
            counts.append(len(found))
    finally:
        await cat.close()
    p50, p99 = pct(times, 0.50), pct(times, 0.99)
    note = (f"{n} queries, {statistics.mean(counts):.0f} segments returned on average, max {max(times):.1f} ms; "
            "database file read once beforehand (OS page cache warm, as on a running server)")
    return [
        Result("segments(camera, 1 h window) p50", f"{p50:.2f} ms", "", "", note),
        Result("segments(camera, 1 h window) p99", f"{p99:.2f} ms", f"< {TARGET_QUERY_P99_MS:g} ms",
               "PASS" if p99 < TARGET_QUERY_P99_MS else "MISS"),
    ]


def retention_now(p: Params, deletes: int, retain_days: float) -> int:
    """A 'now' at which segments ending ``retain_days`` ago or earlier number about ``deletes``."""
    per_camera = max(1, round(deletes / p.cameras))
    cutoff = p.start_us + per_camera * p.segment_s * 1_000_000
    return cutoff + round(retain_days * 86_400_000_000)


class _BigDisk:
    """``shutil.disk_usage`` stand-in: plenty of free space, so the free-space floor stays out of it."""

    def __call__(self, path: Path) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(total=10**14, used=10**12, free=10**14 - 10**12)


async def bench_retention(db: Path, p: Params, deletes: int, tmpdir: Path) -> list[Result]:
    """Time ``RetentionService.plan_sweep()`` (catalog queries + plan_deletions; no deletes)."""
    from types import SimpleNamespace

    from nvr.clock import ManualClock, from_utc_us
    from nvr.config import Config
    from nvr.storage.catalog import open_catalog

    try:
        from nvr.retention_service import RetentionService
    except ImportError as exc:
        return [Result("retention planning", "n/a", f"< {TARGET_PLANNING_S:g} s", "N/A",
                       f"nvr.retention_service not importable: {exc}")]
    # A config with every camera in it (the service looks each one up) at the default retention
    # (30 days, events 90 days, no size cap when this was written).
    config = Config.model_validate({
        "storage": {"root": str(tmpdir / "storage")},
        "cameras": [{"name": p.camera(i), "stream": {"main": f"rtsp://127.0.0.1:9/{p.camera(i)}"}}
                    for i in range(p.cameras)],
    })
    record = config.cameras[0].record
    now = retention_now(p, deletes, record.retain_days)
    cat = await open_catalog(str(db))
    results: list[Result] = []
    try:
        runtime = SimpleNamespace(catalog=cat, clock=ManualClock(from_utc_us(now)), config=config)
        service = RetentionService(runtime, disk_usage=_BigDisk())  # type: ignore[arg-type]
        await cat.list_cameras()  # warm the statement cache like a running nvr would have
        method = "plan" if hasattr(service, "plan") else "plan_sweep"  # the dry-run entry point
        t0 = time.perf_counter()
        planned = await getattr(service, method)()
        elapsed = time.perf_counter() - t0
        plan = planned.plan
        candidates = len(getattr(planned, "segments", ()))
        results.append(Result(
            f"retention sweep planning (RetentionService.{method})", f"{elapsed:.2f} s",
            f"< {TARGET_PLANNING_S:g} s", "PASS" if elapsed < TARGET_PLANNING_S else "MISS",
            f"{len(plan.deletions):,} deletions planned ({plan.reasons}), {candidates:,} candidates "
            f"read, {p.cameras:,} cameras with retain_days={record.retain_days:g}, event_retain_days="
            f"{record.event_retain_days:g}, max_gb={record.max_gb}; catalog queries + plan_deletions, "
            "no deletes"))
        # With a size cap on any camera the sweep also needs every camera's totals: a full scan.
        t0 = time.perf_counter()
        usage = await cat.usage_by_camera()
        t_usage = time.perf_counter() - t0
        results.append(Result("  + usage_by_camera (only when a size cap is set)", f"{t_usage:.2f} s", "", "",
                              f"reads all {sum(u.segments for u in usage):,} segment rows"))
    finally:
        await cat.close()
    return results


async def bench_open(db: Path, p: Params) -> tuple[float, Result]:
    from nvr.storage.catalog import open_catalog

    t0 = time.perf_counter()
    cat = await open_catalog(str(db))
    t_open = time.perf_counter() - t0
    await cat.close()
    return t_open, Result("start-up: open_catalog (migrations check)", f"{t_open * 1000:.0f} ms", "", "",
                          f"{p.segments:,}-segment catalog")


async def bench_row_paging(db: Path, p: Params) -> Result:
    """Recovery's catalog side at full scale: page through every row by path, as ``storage.check`` does."""
    from nvr.storage.catalog import open_catalog

    try:
        from nvr.storage.check import PAGE
    except ImportError:
        PAGE = 5000
    cat = await open_catalog(str(db))
    try:
        if not hasattr(cat, "segment_files"):
            return Result("start-up: catalog row scan", "n/a", "", "N/A", "catalog has no segment_files()")
        t0 = time.perf_counter()
        after, rows = "", 0
        while True:
            page = await cat.segment_files(after, PAGE)
            rows += len(page)
            if len(page) < PAGE:
                break
            after = page[-1][1]
        elapsed = time.perf_counter() - t0
    finally:
        await cat.close()
    return Result("start-up: catalog side of the recovery scan", f"{elapsed:.2f} s", "", "",
                  f"segment_files() paged through all {rows:,} rows by path ({PAGE} per page), "
                  "as storage.check does; no files involved")


def make_store(db: Path, root: Path) -> int:
    """Create every segment file the catalog names, sparse, at its recorded size (an intact store)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT path, size_bytes FROM segments WHERE state = 'ok'").fetchall()
    finally:
        conn.close()
    folders = {os.path.dirname(path) for path, _ in rows}
    for folder in folders:
        os.makedirs(root / folder, exist_ok=True)
    for path, size in rows:
        fd = os.open(root / path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)
    return len(rows)


async def bench_recovery(sub_db: Path, sub: Params, full: Params, t_open_full: float, tmpdir: Path,
                         log: Any) -> list[Result]:
    """The old full ``recover()`` and the new start-up (crash, then clean) on one intact store of real files."""
    import bench_catalog_startup as su

    from nvr.storage.catalog import open_catalog
    from nvr.storage.recovery import recover

    db = tmpdir / "recovery.db"
    shutil.copyfile(sub_db, db)  # recovery may write; keep the cached file pristine
    root = tmpdir / "storage"
    t0 = time.perf_counter()
    files = await asyncio.to_thread(make_store, db, root)
    log(f"  created {files:,} sparse segment files in {time.perf_counter() - t0:.1f} s for the recovery scan")
    t0 = time.perf_counter()
    cat = await open_catalog(str(db))
    try:
        t1 = time.perf_counter()
        report = await recover(cat, root)
        t2 = time.perf_counter()
    finally:
        await cat.close()
    total = t2 - t0
    per_seg_us = (t2 - t1) / max(1, files) * 1e6
    changed = report.changed or bool(report.errors)
    note = (f"the full walk (before: all of start-up; now the background check): open_catalog "
            f"{1000 * (t1 - t0):.0f} ms + recover() {t2 - t1:.2f} s over {files:,} segment files (sparse, recorded "
            f"size) and their {files:,} rows; {per_seg_us:.1f} µs per segment; changed something: {changed}")
    if changed:
        note += f" ({report.summary()})"
    results = [Result(f"start-up (old): open_catalog + recover(), intact store of {files:,} files (measured)",
                      f"{total:.2f} s", "", "", note)]
    if full.segments > files:
        estimate = t_open_full + (t2 - t1) * full.segments / files
        results.append(Result(
            f"start-up (old): open_catalog + recover() at {full.segments:,} segments (extrapolated)",
            f"~{estimate:.0f} s", "", "",
            f"measured open_catalog of the full catalog ({t_open_full * 1000:.0f} ms) + the measured recover() "
            f"time per segment x {full.segments:,}: what the background full check now costs (linear in the "
            "store; it no longer delays start-up)"))
    runs = await asyncio.to_thread(su.crash_state, db)
    for expect in ("crash", "clean"):
        got = await su.timed_start(db, root, expect)
        results.append(Result(f"start-up (new) after a {expect}: same store of {files:,} files", f"{got.total_s:.2f} s",
                              f"< {TARGET_STARTUP_S:g} s", _verdict(got), got.note()
                              + (f"; {runs:,} runs reopened to look killed" if expect == "crash" else "")))
    return results


def _verdict(got: Any) -> str:
    return "PASS" if got.total_s < TARGET_STARTUP_S and got.changed == "nothing else changed" else "MISS"


async def bench_startup(db: Path, p: Params, tmpdir: Path, parts: int, part_seconds: float, log: Any) -> list[Result]:
    """``open_catalog`` + the bounded start-up recovery on a copy of the full catalog; files only where it looks."""
    import bench_catalog_startup as su

    copy = tmpdir / "startup.db"
    t0 = time.perf_counter()
    await asyncio.to_thread(shutil.copyfile, db, copy)
    log(f"  copied the catalog for the start-up runs in {time.perf_counter() - t0:.0f} s")
    root = tmpdir / "startup-storage"
    t0 = time.perf_counter()
    files, folders = await asyncio.to_thread(su.make_window_store, copy, root, int(time.time() * 1e6))
    log(f"  created {files:,} sparse files (each camera's last hours) and {folders:,} folders in "
        f"{time.perf_counter() - t0:.0f} s")
    results = []
    for cache in ("catalog not in page cache", "warm"):
        for expect in ("crash", "clean"):
            runs = await asyncio.to_thread(su.crash_state, copy) if expect == "crash" else 0
            if cache != "warm":
                await asyncio.to_thread(su.evict, copy)
            got = await su.timed_start(copy, root, expect)
            results.append(Result(
                f"start-up (new) after a {expect}, {p.segments:,} segments ({cache})", f"{got.total_s:.2f} s",
                f"< {TARGET_STARTUP_S:g} s", _verdict(got),
                got.note() + (f"; {runs:,} runs reopened to look killed" if runs else "")
                + f"; {files:,} real (sparse) files in the cameras' last hours"))
    if parts and part_seconds > 0:
        template = tmpdir / "template.mp4.part"
        size = await asyncio.to_thread(su.part_template, template, part_seconds)
        t0 = time.perf_counter()
        planted = await asyncio.to_thread(su.plant_parts, copy, root, template, parts)
        log(f"  planted {planted:,} .part files of {su.human_bytes(size)} in {time.perf_counter() - t0:.0f} s")
        runs = await asyncio.to_thread(su.crash_state, copy)
        await asyncio.to_thread(su.evict, copy)
        quiet = logging.getLogger("nvr.storage")
        level, _ = quiet.level, quiet.setLevel(logging.ERROR)  # not a line per recovered .part
        try:
            got = await su.timed_start(copy, root, "crash")
        finally:
            quiet.setLevel(level)
        ok = got.indexed == planted and got.changed == "nothing else changed"
        results.append(Result(
            f"start-up (new) after a kill -9: {planted:,} .part files of {part_seconds:g} s to recover",
            f"{got.total_s:.2f} s", "", "" if ok else "FAILED",
            got.note() + f"; {runs:,} runs reopened; each .part {su.human_bytes(size)} (1280x720 clip, "
            f"{size * 8 / part_seconds / 1e6:.1f} Mbit/s), cut inside its last fragment, demuxed, hashed, indexed; "
            "not the intact-store target"))
    return results


# --------------------------------------------------------------------------- main


def print_table(results: list[Result], out: Any = sys.stdout) -> None:
    rows = [("measurement", "result", "target", "verdict")] + [(r.name, r.value, r.target, r.verdict)
                                                               for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    print(line, file=out)
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out)
        if i == 0:
            print(line, file=out)
    print(line, file=out)
    for r in results:
        if r.note:
            print(f"* {r.name}: {r.note}", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark the SQLite catalog at city scale.")
    ap.add_argument("--cameras", type=int, default=1500)
    ap.add_argument("--segments", type=int, default=10_000_000, help="total segments (default 10,000,000)")
    ap.add_argument("--segment-seconds", type=int, default=60)
    ap.add_argument("--queries", type=int, default=1000, help="time-window queries to time (default 1,000)")
    ap.add_argument("--retention-deletes", type=int, default=100_000,
                    help="segments the planned retention sweep deletes (default 100,000)")
    ap.add_argument("--recovery-files", type=int, default=100_000,
                    help="segment files created (sparse) for the measured recovery scan (default 100,000)")
    ap.add_argument("--startup-parts", type=int, default=None,
                    help="cameras given a real .part to recover in the kill -9 start-up run (default: all; 0: skip)")
    ap.add_argument("--startup-part-seconds", type=float, default=30.0,
                    help="media in each such .part (default 30 s: half a 60 s segment)")
    ap.add_argument("--cache-dir", type=Path, default=REPO / ".cache" / "bench")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached catalog")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.cameras < 1 or args.segments < args.cameras:
        ap.error("need at least one camera and one segment per camera")
    p = Params(args.cameras, args.segments, args.segment_seconds)
    if args.startup_parts is None:
        args.startup_parts = p.cameras

    def log(msg: str) -> None:
        print(msg, flush=True)

    log(f"bench_catalog: {p.cameras:,} cameras, {p.segments:,} segments of {p.segment_s} s "
        f"({p.minutes * p.segment_s / 86400:.2f} days per camera); python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"load average {os.getloadavg()[0]:.2f}")
    db = cache_path(p, args.cache_dir)
    if args.rebuild or not db.exists():
        log(f"building {db} ...")
        build(p, db, log)
    else:
        log(f"using cached {db} ({db.stat().st_size / 1e9:.2f} GB)")

    tmpdir = Path(tempfile.mkdtemp(prefix="nvr-bench-catalog-"))
    try:
        rng = random.Random(args.seed)
        results: list[Result] = []
        log(f"reading {db.name} into the OS page cache: {warm_page_cache(db):.1f} s")
        results += asyncio.run(bench_queries(db, p, args.queries, rng))
        results += asyncio.run(bench_retention(db, p, args.retention_deletes, tmpdir))
        t_open, opened = asyncio.run(bench_open(db, p))
        results.append(opened)
        results.append(asyncio.run(bench_row_paging(db, p)))
        sub = Params(p.cameras, min(p.segments, args.recovery_files), p.segment_s)
        sub_db = db if sub == p else cache_path(sub, args.cache_dir)
        if not sub_db.exists():
            log(f"building the recovery-scan catalog {sub_db.name} ...")
            build(sub, sub_db, log)
        results += asyncio.run(bench_recovery(sub_db, sub, p, t_open, tmpdir, log))
        results += asyncio.run(bench_startup(db, p, tmpdir, args.startup_parts, args.startup_part_seconds, log))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    print()
    print_table(results)
    missed = [r.name for r in results if r.verdict == "MISS"]
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    print("verdict: " + ("all targets met" if not missed else "MISSED: " + "; ".join(missed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
