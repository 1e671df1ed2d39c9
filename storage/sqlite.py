"""SQLite catalog backend: one worker thread owns the connection (WAL mode)."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from nvr.clock import Clock, SystemClock, now_us
from nvr.errors import CatalogError, CatalogUnavailable
from nvr.models import CameraRecord, CameraUsage, Hold, Run, Segment, SegmentSpan
from nvr.storage.catalog import MAX_SEGMENT_WALL_US, Catalog, validate_new_segment
from nvr.storage.migrations import MIGRATIONS_TABLE_SQL, Migration, load_migrations, migrate
from nvr.storage.sqlite_adopted import SqliteAdoptedMixin
from nvr.storage.sqlite_complaints import SqliteComplaintsMixin
from nvr.storage.sqlite_events import SqliteEventsMixin
from nvr.storage.sqlite_exports import SqliteExportsMixin
from nvr.storage.sqlite_kelurahan import SqliteKelurahanMixin
from nvr.storage.sqlite_nodes import SqliteNodesMixin
from nvr.storage.sqlite_plates import SqlitePlatesMixin
from nvr.storage.sqlite_tokens import SqliteTokensMixin
from nvr.storage.sqlite_users import SqliteUsersMixin

__all__ = ["SqliteCatalog"]

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
"""How long a writer waits for another process's lock before failing."""

# synchronous=FULL: in WAL mode NORMAL may lose the last commits on power loss.
# The two-phase delete needs the 'garbage' mark durable *before* the file is
# unlinked, and the recorder needs a segment row durable once add_segment
# returns; FULL gives that for one WAL fsync per commit, which is cheap at our
# write rate (about one segment per camera per minute).
SYNCHRONOUS = "FULL"

_CAM = "id, name, kelurahan, kecamatan, lat, lon, created_at, updated_at, removed_at"
_RUN = "id, camera_id, started_at, ended_at, reason_ended"
_SEG = (
    "id, camera_id, run_id, seq, start_time, end_time, media_duration, path, size_bytes, "
    "sha256, frames, keyframes, codec, width, height, state, created_at"
)
_SEG_S = ", ".join(f"s.{c.strip()}" for c in _SEG.split(","))
MAX_ROLL_US = 300 * 1_000_000
"""Longest pre- or post-roll of an event (the bounds of [analysis] pre_roll_s/post_roll_s)."""



class SqliteCatalog(SqliteUsersMixin, SqliteNodesMixin, SqliteAdoptedMixin, SqliteTokensMixin, SqliteEventsMixin,
                    SqliteExportsMixin, SqlitePlatesMixin, SqliteKelurahanMixin, SqliteComplaintsMixin, Catalog):
    """Catalog stored in one SQLite file; all SQL runs on a dedicated thread.

    Cancelling an awaiting caller does not cancel the SQL already queued: it
    completes (or rolls back) on the worker and its result is dropped.
    """

    def __init__(self, database: str, clock: Clock) -> None:
        """Prefer ``SqliteCatalog.open`` (or ``open_catalog``), which also connects."""
        self.database = database
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._thread_ident: int | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="nvr-catalog", initializer=self._init_thread
        )

    @classmethod
    async def open(cls, database: str, *, clock: Clock | None = None,
                   migrations: Sequence[Migration] | None = None) -> SqliteCatalog:
        """Connect to ``database`` (a path or ``:memory:``) and apply migrations."""
        cat = cls(database, clock or SystemClock())
        try:
            await cat._call(cat._open_sync, migrations)
        except BaseException:
            await cat.close()
            raise
        return cat

    # -- worker plumbing ---------------------------------------------------

    def _init_thread(self) -> None:
        self._thread_ident = threading.get_ident()

    @property
    def worker_thread_ident(self) -> int | None:
        """``threading.get_ident()`` of the worker thread (None before first use)."""
        return self._thread_ident

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise CatalogError("catalog is closed")
        return await self._submit(fn, *args)

    async def _submit(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._guard, fn, *args))

    @staticmethod
    def _guard(fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except sqlite3.OperationalError as exc:  # locked, busy, disk I/O: may pass
            raise CatalogUnavailable(f"catalog {getattr(fn, '__name__', 'operation')} failed: {exc}") from exc
        except sqlite3.Error as exc:
            raise CatalogError(f"catalog {getattr(fn, '__name__', 'operation')} failed: {exc}") from exc

    async def run_in_worker(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the worker thread (tests and maintenance only)."""
        return await self._call(lambda: fn(self._c))

    @property
    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            raise CatalogError("catalog is not connected")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front."""
        c = self._c
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise

    def _insert_segment(self, c: sqlite3.Connection, camera_id: int, run_id: int, seq: int,
                        f: dict[str, Any], width: int | None, height: int | None) -> tuple[Any, ...]:
        """INSERT one ``ok`` segment row and return it (shared by the indexer's and recovery's paths)."""
        return c.execute(
            "INSERT INTO segments (camera_id, run_id, seq, start_time, end_time, media_duration, path,"
            " size_bytes, sha256, frames, keyframes, codec, width, height, state, created_at)"
            f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ok', ?) RETURNING {_SEG}",
            (camera_id, run_id, seq, f["start_time"], f["end_time"], f["media_duration"], f["path"],
             f["size_bytes"], f["sha256"], f["frames"], f["keyframes"], f["codec"], width, height, self._now()),
        ).fetchall()[0]

    def _now(self) -> int:
        return now_us(self._clock)

    def _one(self, sql: str, params: Sequence[Any], make: Callable[..., T]) -> T | None:
        row = self._c.execute(sql, params).fetchone()
        return None if row is None else make(*row)

    def _all(self, sql: str, params: Sequence[Any], make: Callable[..., T]) -> list[T]:
        return [make(*row) for row in self._c.execute(sql, params).fetchall()]

    # -- lifecycle -----------------------------------------------------------

    def _open_sync(self, migrations: Sequence[Migration] | None) -> None:
        if self.database != ":memory:":
            Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; we BEGIN/COMMIT ourselves.
        c = self._conn = sqlite3.connect(self.database, isolation_level=None)
        c.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal" and self.database != ":memory:":
            raise CatalogError(f"could not put {self.database} in WAL mode (got {mode!r})")
        c.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
        c.execute("PRAGMA foreign_keys = ON")
        if c.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
            raise CatalogError("this SQLite build cannot enforce foreign keys")
        applied = migrate(self, load_migrations() if migrations is None else migrations, self._now())
        log.info("catalog %s open (schema version %d, %d migration(s) applied now)",
                 self.database, self._schema_version(), len(applied))

    async def close(self) -> None:
        """Close the connection on the worker, then let the worker thread exit."""
        if self._closed:
            return
        self._closed = True  # refuse new calls; ones already queued still run first
        try:
            await self._submit(self._close_sync)
        finally:
            self._executor.shutdown(wait=False)

    def _close_sync(self) -> None:
        c, self._conn = self._conn, None
        if c is None:
            return
        try:
            c.execute("PRAGMA optimize")
        except sqlite3.Error as exc:  # best effort; never mask the real close/open error
            log.debug("PRAGMA optimize failed on close: %s", exc)
        finally:
            c.close()

    # -- migrations (MigrationTarget, called on the worker) -------------------

    def ensure_migrations_table(self) -> None:
        """Create ``schema_migrations`` if it does not exist."""
        self._c.execute(MIGRATIONS_TABLE_SQL)

    def applied_migrations(self) -> dict[int, str]:
        """Return ``{version: name}`` of applied migrations."""
        return dict(self._c.execute("SELECT version, name FROM schema_migrations").fetchall())

    def apply_migration(self, migration: Migration, applied_at_us: int) -> None:
        """Run one migration and record it in a single transaction."""
        c = self._c
        try:
            # executescript() commits any open transaction first, so BEGIN goes inside it.
            c.executescript("BEGIN IMMEDIATE;\n" + migration.sql)
            c.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, applied_at_us),
            )
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise

    def _schema_version(self) -> int:
        return int(self._c.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0])

    async def schema_version(self) -> int:
        return await self._call(self._schema_version)

    # -- cameras -------------------------------------------------------------

    async def upsert_camera(self, name: str, kelurahan: str | None = None, kecamatan: str | None = None,
                            lat: float | None = None, lon: float | None = None) -> CameraRecord:
        if not name:
            raise CatalogError("camera name must not be empty")
        return await self._call(self._upsert_camera, name, kelurahan, kecamatan, lat, lon)

    def _upsert_camera(self, name: str, kel: str | None, kec: str | None,
                       lat: float | None, lon: float | None) -> CameraRecord:
        now = self._now()
        with self._write() as c:
            cur = self._one(f"SELECT {_CAM} FROM cameras WHERE name = ?", (name,), CameraRecord)
            if cur is None:
                row = c.execute(
                    "INSERT INTO cameras (name, kelurahan, kecamatan, lat, lon, created_at, updated_at)"
                    f" VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_CAM}",
                    (name, kel, kec, lat, lon, now, now),
                ).fetchall()[0]
                return CameraRecord(*row)
            if (cur.kelurahan, cur.kecamatan, cur.lat, cur.lon, cur.removed_at) == (kel, kec, lat, lon, None):
                return cur
            row = c.execute(
                "UPDATE cameras SET kelurahan = ?, kecamatan = ?, lat = ?, lon = ?, updated_at = ?,"
                f" removed_at = NULL WHERE id = ? RETURNING {_CAM}",
                (kel, kec, lat, lon, now, cur.id),
            ).fetchall()[0]
            return CameraRecord(*row)

    async def get_camera(self, name: str) -> CameraRecord | None:
        return await self._call(self._one, f"SELECT {_CAM} FROM cameras WHERE name = ?", (name,), CameraRecord)

    async def list_cameras(self, include_removed: bool = True) -> list[CameraRecord]:
        where = "" if include_removed else " WHERE removed_at IS NULL"
        return await self._call(self._all, f"SELECT {_CAM} FROM cameras{where} ORDER BY name", (), CameraRecord)

    async def mark_camera_removed(self, name: str) -> CameraRecord:
        return await self._call(self._mark_camera_removed, name)

    def _mark_camera_removed(self, name: str) -> CameraRecord:
        now = self._now()
        with self._write() as c:
            c.execute(
                "UPDATE cameras SET removed_at = ?, updated_at = ? WHERE name = ? AND removed_at IS NULL",
                (now, now, name),
            )
            cam = self._one(f"SELECT {_CAM} FROM cameras WHERE name = ?", (name,), CameraRecord)
        if cam is None:
            raise CatalogError(f"unknown camera {name!r}")
        return cam

    # -- runs ----------------------------------------------------------------

    async def start_run(self, camera_name: str, started_at_us: int) -> Run:
        return await self._call(self._start_run, camera_name, started_at_us)

    def _start_run(self, camera_name: str, started_at_us: int) -> Run:
        with self._write() as c:
            cam = self._one(f"SELECT {_CAM} FROM cameras WHERE name = ?", (camera_name,), CameraRecord)
            if cam is None:
                raise CatalogError(f"cannot start a run: unknown camera {camera_name!r}")
            if cam.removed:
                raise CatalogError(f"cannot start a run: camera {camera_name!r} has been removed")
            open_run = self._one(f"SELECT {_RUN} FROM runs WHERE camera_id = ? AND ended_at IS NULL",
                                 (cam.id,), Run)
            if open_run is not None:
                raise CatalogError(
                    f"camera {camera_name!r} already has open run {open_run.id}; end it first"
                )
            row = c.execute(f"INSERT INTO runs (camera_id, started_at) VALUES (?, ?) RETURNING {_RUN}",
                            (cam.id, started_at_us)).fetchall()[0]
            return Run(*row)

    async def end_run(self, run_id: int, ended_at_us: int, reason: str) -> Run:
        return await self._call(self._end_run, run_id, ended_at_us, reason)

    def _end_run(self, run_id: int, ended_at_us: int, reason: str) -> Run:
        with self._write() as c:
            run = self._one(f"SELECT {_RUN} FROM runs WHERE id = ?", (run_id,), Run)
            if run is None:
                raise CatalogError(f"unknown run {run_id}")
            if not run.is_open:
                raise CatalogError(f"run {run_id} already ended at {run.ended_at}")
            last_end = c.execute("SELECT MAX(end_time) FROM segments WHERE run_id = ?", (run_id,)).fetchone()[0]
            floor = max(run.started_at, last_end if last_end is not None else run.started_at)
            if ended_at_us < floor:
                raise CatalogError(
                    f"run {run_id} cannot end at {ended_at_us}: before its start or last segment end ({floor})"
                )
            row = c.execute(f"UPDATE runs SET ended_at = ?, reason_ended = ? WHERE id = ? RETURNING {_RUN}",
                            (ended_at_us, reason, run_id)).fetchall()[0]
            return Run(*row)

    async def get_run(self, run_id: int) -> Run | None:
        return await self._call(self._one, f"SELECT {_RUN} FROM runs WHERE id = ?", (run_id,), Run)

    async def open_runs(self) -> list[Run]:
        return await self._call(self._all, f"SELECT {_RUN} FROM runs WHERE ended_at IS NULL ORDER BY id", (), Run)

    # -- segments ------------------------------------------------------------

    async def add_segment(self, *, run_id: int, start_time: int, end_time: int, media_duration: int,
                          path: str, size_bytes: int, sha256: str, frames: int, keyframes: int, codec: str,
                          width: int | None = None, height: int | None = None,
                          seq: int | None = None) -> Segment:
        fields = {"start_time": start_time, "end_time": end_time, "media_duration": media_duration,
                  "path": path, "size_bytes": size_bytes, "sha256": sha256, "frames": frames,
                  "keyframes": keyframes, "codec": codec}
        return await self._call(self._add_segment, run_id, seq, width, height, fields)

    def _add_segment(self, run_id: int, seq: int | None, width: int | None, height: int | None,
                     f: dict[str, Any]) -> Segment:
        with self._write() as c:
            run = self._one(f"SELECT {_RUN} FROM runs WHERE id = ?", (run_id,), Run)
            if run is None:
                raise CatalogError(f"segment {f['path']!r}: unknown run {run_id}")
            if not run.is_open:
                raise CatalogError(f"segment {f['path']!r}: run {run_id} has already ended")
            prev = self._one(f"SELECT {_SEG} FROM segments WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
                             (run_id,), Segment)
            if seq is None:
                seq = 0 if prev is None else prev.seq + 1
            validate_new_segment(previous=prev, seq=seq, **f)
            if c.execute("SELECT 1 FROM segments WHERE path = ?", (f["path"],)).fetchone():
                raise CatalogError(f"segment path {f['path']!r} is already catalogued")
            row = self._insert_segment(c, run.camera_id, run_id, seq, f, width, height)
            return Segment(*row)

    async def get_segment(self, segment_id: int) -> Segment | None:
        return await self._call(self._one, f"SELECT {_SEG} FROM segments WHERE id = ?", (segment_id,), Segment)

    async def segment_by_path(self, path: str) -> Segment | None:
        return await self._call(self._one, f"SELECT {_SEG} FROM segments WHERE path = ?", (path,), Segment)

    async def segments(self, camera_name: str, start_us: int, end_us: int) -> list[Segment]:
        if end_us < start_us:
            raise CatalogError(f"time window is inverted: end {end_us} < start {start_us}")
        # The lower bound on start_time lets the (camera_id, start_time) index
        # bound the scan; it is exact because no segment spans more than
        # MAX_SEGMENT_WALL_US.
        sql = (
            f"SELECT {_SEG_S} FROM segments s JOIN cameras c ON c.id = s.camera_id"
            " WHERE c.name = ? AND s.state = 'ok' AND s.start_time < ? AND s.start_time >= ?"
            " AND s.end_time > ? ORDER BY s.start_time, s.id"
        )
        params = (camera_name, end_us, start_us - MAX_SEGMENT_WALL_US, start_us)
        return await self._call(self._all, sql, params, Segment)

    async def latest_segment(self, camera_name: str) -> Segment | None:
        sql = (
            f"SELECT {_SEG_S} FROM segments s JOIN cameras c ON c.id = s.camera_id"
            " WHERE c.name = ? AND s.state = 'ok' ORDER BY s.start_time DESC, s.id DESC LIMIT 1"
        )
        return await self._call(self._one, sql, (camera_name,), Segment)

    async def mark_segment_garbage(self, ids: Iterable[int]) -> int:
        return await self._call(self._mark_garbage, [(int(i),) for i in ids])

    def _mark_garbage(self, ids: list[tuple[int]]) -> int:
        with self._write() as c:
            cur = c.executemany("UPDATE segments SET state = 'garbage' WHERE id = ? AND state = 'ok'", ids)
            return max(cur.rowcount, 0)

    async def garbage_segments(self) -> list[Segment]:
        return await self._call(self._all, f"SELECT {_SEG} FROM segments WHERE state = 'garbage' ORDER BY id",
                                (), Segment)

    async def delete_segments(self, ids: Iterable[int]) -> int:
        return await self._call(self._delete_segments, [int(i) for i in ids])

    def _delete_segments(self, ids: list[int]) -> int:
        with self._write() as c:
            live = [i for i in ids
                    if c.execute("SELECT 1 FROM segments WHERE id = ? AND state <> 'garbage'", (i,)).fetchone()]
            if live:
                raise CatalogError(f"refusing to delete segments not marked garbage: {live[:20]}")
            cur = c.executemany("DELETE FROM segments WHERE id = ?", [(i,) for i in ids])
            return max(cur.rowcount, 0)

    async def segment_totals(self, camera_name: str) -> tuple[int, int]:
        sql = (
            "SELECT COUNT(*), COALESCE(SUM(s.size_bytes), 0) FROM segments s"
            " JOIN cameras c ON c.id = s.camera_id WHERE c.name = ? AND s.state = 'ok'"
        )
        return await self._call(self._one, sql, (camera_name,), lambda n, b: (int(n), int(b)))  # type: ignore[return-value]

    def _change(self, sql: str, params: Sequence[Any]) -> int:
        with self._write() as c:
            return c.execute(sql, params).rowcount

    # -- meta ------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        return await self._call(self._one, "SELECT value FROM meta WHERE key = ?", (key,), str)

    async def set_meta(self, key: str, value: str) -> None:
        sql = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        await self._call(self._change, sql, (key, value))

    # -- retention -------------------------------------------------------------

    _HOLD_SELECT = (
        "SELECT h.id, h.camera_id, c.name, h.start_time, h.end_time, h.reason, h.created_by, h.created_at,"
        " h.expires_at, h.released_at FROM holds h LEFT JOIN cameras c ON c.id = h.camera_id"
    )
    _SPAN = "id, camera_id, start_time, end_time, size_bytes, path"

    async def add_hold(self, camera_name: str | None, start_us: int, end_us: int, reason: str,
                       created_by: str | None = None, expires_at_us: int | None = None) -> Hold:
        if end_us <= start_us:
            raise CatalogError(f"hold window is empty or inverted: end {end_us} <= start {start_us}")
        if not reason or not reason.strip():
            raise CatalogError("a hold needs a reason")
        return await self._call(self._add_hold, camera_name, start_us, end_us, reason.strip(), created_by,
                                expires_at_us)

    def _add_hold(self, camera_name: str | None, start_us: int, end_us: int, reason: str,
                  created_by: str | None, expires_at_us: int | None) -> Hold:
        with self._write() as c:
            camera_id = None
            if camera_name is not None:
                row = c.execute("SELECT id FROM cameras WHERE name = ?", (camera_name,)).fetchone()
                if row is None:
                    raise CatalogError(f"cannot hold footage: unknown camera {camera_name!r}")
                camera_id = row[0]
            hold_id = c.execute(
                "INSERT INTO holds (camera_id, start_time, end_time, reason, created_by, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (camera_id, start_us, end_us, reason, created_by, self._now(), expires_at_us),
            ).fetchall()[0][0]
            hold = self._one(f"{self._HOLD_SELECT} WHERE h.id = ?", (hold_id,), Hold)
        assert hold is not None
        return hold

    async def release_hold(self, hold_id: int, now_us: int) -> Hold:
        return await self._call(self._release_hold, hold_id, now_us)

    def _release_hold(self, hold_id: int, now_us: int) -> Hold:
        with self._write() as c:
            c.execute("UPDATE holds SET released_at = ? WHERE id = ? AND released_at IS NULL", (now_us, hold_id))
            hold = self._one(f"{self._HOLD_SELECT} WHERE h.id = ?", (hold_id,), Hold)
        if hold is None:
            raise CatalogError(f"unknown hold {hold_id}")
        return hold

    async def get_hold(self, hold_id: int) -> Hold | None:
        return await self._call(self._one, f"{self._HOLD_SELECT} WHERE h.id = ?", (hold_id,), Hold)

    async def active_holds(self, now_us: int) -> list[Hold]:
        sql = (f"{self._HOLD_SELECT} WHERE (h.released_at IS NULL OR h.released_at > ?)"
               " AND (h.expires_at IS NULL OR h.expires_at > ?) ORDER BY h.id")
        return await self._call(self._all, sql, (now_us, now_us), Hold)

    async def list_holds(self) -> list[Hold]:
        return await self._call(self._all, f"{self._HOLD_SELECT} ORDER BY h.id", (), Hold)

    async def add_event(self, camera_name: str, kind: str, start_us: int, end_us: int) -> int:
        if end_us < start_us:
            raise CatalogError(f"event ends before it starts: end {end_us} < start {start_us}")
        if not kind:
            raise CatalogError("event kind must not be empty")
        return await self._call(self._add_event, camera_name, kind, start_us, end_us)

    def _add_event(self, camera_name: str, kind: str, start_us: int, end_us: int) -> int:
        with self._write() as c:
            row = c.execute("SELECT id FROM cameras WHERE name = ?", (camera_name,)).fetchone()
            if row is None:
                raise CatalogError(f"cannot add event: unknown camera {camera_name!r}")
            return int(c.execute(
                "INSERT INTO events (camera_id, kind, start_time, end_time, created_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (row[0], kind, start_us, end_us, self._now()),
            ).fetchall()[0][0])

    async def event_windows(self, camera_name: str, start_us: int, end_us: int) -> list[tuple[int, int]]:
        return await self._call(self._event_windows, camera_name, start_us, end_us)

    async def event_windows_many(self, requests: Iterable[tuple[str, int, int]]) -> list[list[tuple[int, int]]]:
        return await self._call(lambda reqs: [self._event_windows(*r) for r in reqs], list(requests))

    def _event_windows(self, camera_name: str, start_us: int, end_us: int) -> list[tuple[int, int]]:
        # Old events pile up before start_us; the (camera_id, end_time) index skips them. Windows include the
        # event's pre- and post-roll (at most MAX_ROLL_US each), so the index range is widened by that much.
        sql = ("SELECT e.start_time - e.pre_roll, e.end_time + e.post_roll FROM events e"
               " INDEXED BY events_camera_end WHERE e.camera_id = (SELECT id FROM cameras WHERE name = ?)"
               " AND e.end_time >= ? AND e.start_time < ? ORDER BY e.start_time - e.pre_roll, e.id")
        rows = self._c.execute(sql, (camera_name, start_us - MAX_ROLL_US, end_us + MAX_ROLL_US)).fetchall()
        return [(s, e) for s, e in rows if e >= start_us and s < end_us]

    async def mark_segment_garbage_unless_held(self, ids: Iterable[int], now_us: int) -> list[int]:
        return await self._call(self._mark_garbage_unless_held, [int(i) for i in ids], now_us)

    def _mark_garbage_unless_held(self, ids: list[int], now_us: int) -> list[int]:
        sql = ("UPDATE segments SET state = 'garbage' WHERE id = ? AND state = 'ok' AND NOT EXISTS ("
               "SELECT 1 FROM holds h WHERE (h.camera_id = segments.camera_id OR h.camera_id IS NULL)"
               " AND h.start_time < segments.end_time AND h.end_time > segments.start_time"
               " AND (h.released_at IS NULL OR h.released_at > ?) AND (h.expires_at IS NULL OR h.expires_at > ?))"
               " RETURNING id")
        marked: list[int] = []
        with self._write() as c:
            for segment_id in ids:
                marked.extend(row[0] for row in c.execute(sql, (segment_id, now_us, now_us)).fetchall())
        return marked

    async def usage_by_camera(self) -> list[CameraUsage]:
        # Bytes from the partial (camera_id, size_bytes) index alone; oldest start and newest end
        # from short walks of (camera_id, start_time) (no segment spans more than an hour).
        sql = (
            "SELECT c.id, c.name, COALESCE(u.n, 0), COALESCE(u.b, 0),"
            " (SELECT s.start_time FROM segments s INDEXED BY segments_camera_start"
            "   WHERE s.camera_id = c.id AND s.state = 'ok' ORDER BY s.start_time LIMIT 1),"
            " (SELECT MAX(s.end_time) FROM segments s INDEXED BY segments_camera_start"
            "   WHERE s.camera_id = c.id AND s.state = 'ok' AND s.start_time >= ("
            "     SELECT t.start_time FROM segments t INDEXED BY segments_camera_start"
            "     WHERE t.camera_id = c.id AND t.state = 'ok' ORDER BY t.start_time DESC LIMIT 1) - ?)"
            " FROM cameras c LEFT JOIN (SELECT camera_id, COUNT(*) AS n, SUM(size_bytes) AS b FROM segments"
            "   INDEXED BY segments_camera_ok_size WHERE state = 'ok' GROUP BY camera_id) u ON u.camera_id = c.id"
            " ORDER BY c.name"
        )
        return await self._call(self._all, sql, (MAX_SEGMENT_WALL_US,), CameraUsage)

    async def usage_since(self, after_id: int) -> tuple[list[CameraUsage], int]:
        return await self._call(self._usage_since, after_id)

    def _usage_since(self, after_id: int) -> tuple[list[CameraUsage], int]:
        # NOT INDEXED: a rowid range over the newest rows, not a walk of a whole index.
        rows = self._all(
            "SELECT u.camera_id, c.name, u.n, u.b, u.oldest, u.newest FROM (SELECT camera_id,"
            " COUNT(*) AS n, SUM(size_bytes) AS b, MIN(start_time) AS oldest, MAX(end_time) AS newest"
            " FROM segments NOT INDEXED WHERE id > ? AND state = 'ok' GROUP BY camera_id) u"
            " JOIN cameras c ON c.id = u.camera_id ORDER BY c.name",
            (after_id,), CameraUsage,
        )
        top = self._c.execute("SELECT MAX(id) FROM segments").fetchone()[0]
        return rows, int(top or 0)

    async def segments_before(self, camera_name: str, end_us: int, limit: int, *,
                              after: tuple[int, int] | None = None) -> list[SegmentSpan]:
        return await self._call(self._segments_before, camera_name, end_us, after, limit)

    async def segments_before_many(self, requests: Iterable[tuple[str, int, tuple[int, int] | None, int]],
                                   ) -> list[list[SegmentSpan]]:
        return await self._call(lambda reqs: [self._segments_before(*r) for r in reqs], list(requests))

    def _segments_before(self, camera_name: str, end_us: int, after: tuple[int, int] | None,
                         limit: int) -> list[SegmentSpan]:
        # start_time < end_us bounds the index range scan (end > start always).
        sql = (f"SELECT {self._SPAN} FROM segments INDEXED BY segments_camera_start"
               " WHERE camera_id = (SELECT id FROM cameras WHERE name = ?)"
               " AND start_time < ? AND end_time <= ? AND state = 'ok'")
        params: list[Any] = [camera_name, end_us, end_us]
        if after is not None:
            sql += " AND start_time >= ? AND (start_time > ? OR id > ?)"
            params += [after[0], after[0], after[1]]
        sql += " ORDER BY start_time, id LIMIT ?"
        return self._spans(sql, (*params, max(int(limit), 0)))

    async def oldest_segments(self, limit: int, exclude_camera_ids: Iterable[int] = (), *,
                              after: tuple[int, int] | None = None) -> list[SegmentSpan]:
        excluded = sorted({int(i) for i in exclude_camera_ids})
        # INDEXED BY: without ANALYZE statistics SQLite would pick segments_state and sort everything.
        sql = f"SELECT {self._SPAN} FROM segments INDEXED BY segments_start WHERE state = 'ok'"
        params: list[Any] = []
        if excluded:
            sql += f" AND camera_id NOT IN ({', '.join('?' * len(excluded))})"
            params += excluded
        if after is not None:
            sql += " AND start_time >= ? AND (start_time > ? OR id > ?)"
            params += [after[0], after[0], after[1]]
        sql += " ORDER BY start_time, id LIMIT ?"
        return await self._call(self._spans, sql, (*params, max(int(limit), 0)))

    def _spans(self, sql: str, params: Sequence[Any]) -> list[SegmentSpan]:
        make = SegmentSpan._make
        return [make(row) for row in self._c.execute(sql, params).fetchall()]

    async def runs_in_range(self, camera_name: str, start_us: int, end_us: int) -> list[Run]:
        sql = (f"SELECT {_RUN} FROM runs WHERE camera_id = (SELECT id FROM cameras WHERE name = ?)"
               " AND started_at < ? AND (ended_at IS NULL OR ended_at > ?) ORDER BY started_at, id")
        return await self._call(self._all, sql, (camera_name, end_us, start_us), Run)

    async def gaps(self, camera_name: str, start_us: int, end_us: int,
                   min_gap_us: int = 1) -> list[tuple[int, int]]:
        if end_us < start_us:
            raise CatalogError(f"time window is inverted: end {end_us} < start {start_us}")
        return await self._call(self._gaps, camera_name, start_us, end_us, max(int(min_gap_us), 1))

    def _gaps(self, camera_name: str, start_us: int, end_us: int, min_gap_us: int) -> list[tuple[int, int]]:
        # Same bounded scan as segments(): no segment spans more than MAX_SEGMENT_WALL_US.
        rows = self._c.execute(
            "SELECT start_time, end_time FROM segments INDEXED BY segments_camera_start"
            " WHERE camera_id = (SELECT id FROM cameras WHERE name = ?)"
            " AND state = 'ok' AND start_time < ? AND start_time >= ? AND end_time > ? ORDER BY start_time, id",
            (camera_name, end_us, start_us - MAX_SEGMENT_WALL_US, start_us),
        )
        gaps: list[tuple[int, int]] = []
        covered = start_us  # everything before this is footage (or outside the window)
        for seg_start, seg_end in rows:
            if seg_start - covered >= min_gap_us:
                gaps.append((covered, seg_start))
            covered = max(covered, seg_end)
        if end_us - covered >= min_gap_us:
            gaps.append((covered, end_us))
        return gaps

    # -- storage check --------------------------------------------------------

    async def segment_files(self, after_path: str = "", limit: int = 5000) -> list[tuple[int, str, int, str, str]]:
        return await self._call(self._segment_files, after_path, max(int(limit), 0))

    def _segment_files(self, after_path: str, limit: int) -> list[tuple[int, str, int, str, str]]:
        # The unique index on path serves both the bound and the order (BINARY = byte order).
        sql = "SELECT id, path, size_bytes, sha256, state FROM segments WHERE path > ? ORDER BY path LIMIT ?"
        return self._c.execute(sql, (after_path, limit)).fetchall()

    async def iter_segments(self, after_id: int = 0, limit: int = 1000) -> list[Segment]:
        sql = f"SELECT {_SEG} FROM segments WHERE id > ? ORDER BY id LIMIT ?"
        return await self._call(self._all, sql, (after_id, max(int(limit), 0)), Segment)

    async def run_by_start(self, camera_name: str, started_at_us: int) -> Run | None:
        sql = (f"SELECT {_RUN} FROM runs WHERE camera_id = (SELECT id FROM cameras WHERE name = ?)"
               " AND started_at = ? ORDER BY id LIMIT 1")
        return await self._call(self._one, sql, (camera_name, started_at_us), Run)

    async def insert_ended_run(self, camera_name: str, started_at_us: int, ended_at_us: int, reason: str) -> Run:
        if not camera_name:
            raise CatalogError("camera name must not be empty")
        if ended_at_us < started_at_us:
            raise CatalogError(f"run cannot end at {ended_at_us}, before its start {started_at_us}")
        return await self._call(self._insert_ended_run, camera_name, started_at_us, ended_at_us, reason)

    def _insert_ended_run(self, camera_name: str, started_at_us: int, ended_at_us: int, reason: str) -> Run:
        now = self._now()
        with self._write() as c:
            row = c.execute("SELECT id FROM cameras WHERE name = ?", (camera_name,)).fetchone()
            if row is None:
                log.warning("recovery: camera %r had footage but no catalog row; adding it", camera_name)
                row = c.execute("INSERT INTO cameras (name, created_at, updated_at) VALUES (?, ?, ?) RETURNING id",
                                (camera_name, now, now)).fetchall()[0]
            out = c.execute(
                "INSERT INTO runs (camera_id, started_at, ended_at, reason_ended)"
                f" VALUES (?, ?, ?, ?) RETURNING {_RUN}",
                (row[0], started_at_us, ended_at_us, reason),
            ).fetchall()[0]
            return Run(*out)

    async def segment_neighbours(self, run_id: int, start_time: int) -> tuple[Segment | None, Segment | None]:
        return await self._call(self._neighbours, run_id, start_time)

    def _neighbours(self, run_id: int, start_time: int) -> tuple[Segment | None, Segment | None]:
        prev = self._one(f"SELECT {_SEG} FROM segments WHERE run_id = ? AND start_time <= ?"
                         " ORDER BY start_time DESC, seq DESC LIMIT 1", (run_id, start_time), Segment)
        nxt = self._one(f"SELECT {_SEG} FROM segments WHERE run_id = ? AND start_time > ?"
                        " ORDER BY start_time, seq LIMIT 1", (run_id, start_time), Segment)
        return prev, nxt

    async def add_recovered_segment(self, *, run_id: int, start_time: int, end_time: int, media_duration: int,
                                    path: str, size_bytes: int, sha256: str, frames: int, keyframes: int,
                                    codec: str, width: int | None = None, height: int | None = None) -> Segment:
        fields = {"start_time": start_time, "end_time": end_time, "media_duration": media_duration,
                  "path": path, "size_bytes": size_bytes, "sha256": sha256, "frames": frames,
                  "keyframes": keyframes, "codec": codec}
        return await self._call(self._add_recovered_segment, run_id, width, height, fields)

    def _add_recovered_segment(self, run_id: int, width: int | None, height: int | None,
                               f: dict[str, Any]) -> Segment:
        with self._write() as c:
            run = self._one(f"SELECT {_RUN} FROM runs WHERE id = ?", (run_id,), Run)
            if run is None:
                raise CatalogError(f"segment {f['path']!r}: unknown run {run_id}")
            prev, nxt = self._neighbours(run_id, f["start_time"])
            seq = 0 if prev is None else prev.seq + 1
            validate_new_segment(previous=prev, seq=seq, **f)
            if nxt is not None and f["end_time"] > nxt.start_time:
                raise CatalogError(f"segment {f['path']!r} ends at {f['end_time']}, overlapping the run's next "
                                   f"segment {nxt.path!r} which starts at {nxt.start_time}")
            if c.execute("SELECT 1 FROM segments WHERE path = ?", (f["path"],)).fetchone():
                raise CatalogError(f"segment path {f['path']!r} is already catalogued")
            if nxt is not None and nxt.seq <= seq:
                # No free number between the neighbours: shift the later ones up by one
                # (through negative values, so UNIQUE (run_id, seq) holds at every step).
                c.execute("UPDATE segments SET seq = -seq - 1 WHERE run_id = ? AND seq >= ?", (run_id, seq))
                c.execute("UPDATE segments SET seq = -seq WHERE run_id = ? AND seq < 0", (run_id,))
            row = self._insert_segment(c, run.camera_id, run_id, seq, f, width, height)
            if run.ended_at is not None and run.ended_at < f["end_time"]:
                c.execute("UPDATE runs SET ended_at = ? WHERE id = ?", (f["end_time"], run_id))
            return Segment(*row)

    async def update_segment_file(self, segment_id: int, *, size_bytes: int, sha256: str,
                                  frames: int | None = None, keyframes: int | None = None,
                                  media_duration: int | None = None, end_time: int | None = None) -> Segment:
        if size_bytes < 0 or (media_duration is not None and media_duration < 0):
            raise CatalogError(f"segment {segment_id}: size and media_duration must not be negative")
        if len(sha256) != 64 or any(ch not in "0123456789abcdef" for ch in sha256):
            raise CatalogError(f"segment {segment_id}: sha256 must be 64 lowercase hex digits")
        return await self._call(self._update_segment_file, segment_id, size_bytes, sha256, frames, keyframes,
                                media_duration, end_time)

    def _update_segment_file(self, segment_id: int, size_bytes: int, sha256: str, frames: int | None,
                             keyframes: int | None, media_duration: int | None, end_time: int | None) -> Segment:
        with self._write() as c:
            seg = self._one(f"SELECT {_SEG} FROM segments WHERE id = ?", (segment_id,), Segment)
            if seg is None:
                raise CatalogError(f"unknown segment {segment_id}")
            frames = seg.frames if frames is None else frames
            keyframes = seg.keyframes if keyframes is None else keyframes
            media_duration = seg.media_duration if media_duration is None else media_duration
            end_time = seg.end_time if end_time is None else end_time
            if not 0 <= keyframes <= frames:
                raise CatalogError(f"segment {seg.path!r}: need 0 <= keyframes ({keyframes}) <= frames ({frames})")
            if not seg.start_time < end_time <= seg.end_time:
                raise CatalogError(f"segment {seg.path!r}: end_time may only shrink, and stay after the start")
            row = c.execute(
                "UPDATE segments SET size_bytes = ?, sha256 = ?, frames = ?, keyframes = ?, media_duration = ?,"
                f" end_time = ? WHERE id = ? RETURNING {_SEG}",
                (size_bytes, sha256, frames, keyframes, media_duration, end_time, segment_id),
            ).fetchall()[0]
            return Segment(*row)

    # --- start-up marker ---

    async def begin_generation(self) -> tuple[int, str | None]:
        return await self._call(self._begin_generation)

    def _begin_generation(self) -> tuple[int, str | None]:
        get = "SELECT value FROM meta WHERE key = ?"
        put = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        with self._write() as c:
            row = c.execute(get, (self.GENERATION_KEY,)).fetchone()
            generation = (int(row[0]) if row is not None and row[0].isdigit() else 0) + 1
            marker = c.execute(get, (self.CLEAN_SHUTDOWN_KEY,)).fetchone()
            c.execute("DELETE FROM meta WHERE key = ?", (self.CLEAN_SHUTDOWN_KEY,))
            c.execute(put, (self.GENERATION_KEY, str(generation)))
        return generation, None if marker is None else marker[0]

    async def record_clean_shutdown(self, generation: int, marker: str) -> bool:
        return await self._call(self._record_clean_shutdown, generation, marker)

    def _record_clean_shutdown(self, generation: int, marker: str) -> bool:
        with self._write() as c:
            row = c.execute("SELECT value FROM meta WHERE key = ?", (self.GENERATION_KEY,)).fetchone()
            if row is None or row[0] != str(generation):
                return False
            c.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
                      "excluded.value", (self.CLEAN_SHUTDOWN_KEY, marker))
        return True

    async def last_segment_id(self) -> int:
        return await self._call(lambda: self._c.execute("SELECT coalesce(max(id), 0) FROM segments").fetchone()[0])

    async def latest_segment_starts(self) -> dict[str, int]:
        sql = ("SELECT c.name, (SELECT s.start_time FROM segments s WHERE s.camera_id = c.id"
               " ORDER BY s.start_time DESC LIMIT 1) FROM cameras c")
        rows = await self._call(lambda: self._c.execute(sql).fetchall())
        return {name: start for name, start in rows if start is not None}

    async def segment_files_in(self, ranges: Sequence[tuple[str, str]]) -> list[tuple[int, str, int, str, str]]:
        return await self._call(self._segment_files_in, list(ranges))

    def _segment_files_in(self, ranges: list[tuple[str, str]]) -> list[tuple[int, str, int, str, str]]:
        sql = ("SELECT id, path, size_bytes, sha256, state FROM segments WHERE path > ? AND path < ?"
               " ORDER BY path")
        out: list[tuple[int, str, int, str, str]] = []
        for low, high in ranges:
            out += self._c.execute(sql, (low, high)).fetchall()
        return out

    async def end_open_runs(self, reason: str) -> list[tuple[int, int, int]]:
        return await self._call(self._end_open_runs, reason)

    def _end_open_runs(self, reason: str) -> list[tuple[int, int, int]]:
        # The last segment by seq is the latest one: add_segment and add_recovered_segment keep seq in time order.
        with self._write() as c:
            rows = c.execute(
                "SELECT r.id, r.camera_id, max(r.started_at, coalesce((SELECT s.end_time FROM segments s"
                " WHERE s.run_id = r.id ORDER BY s.seq DESC LIMIT 1), r.started_at))"
                " FROM runs r WHERE r.ended_at IS NULL ORDER BY r.id").fetchall()
            c.executemany("UPDATE runs SET ended_at = ?, reason_ended = ? WHERE id = ?",
                          [(ended, reason, run_id) for run_id, _, ended in rows])
        return [tuple(r) for r in rows]

    # --- end start-up marker ---
