"""SQLite implementation of the catalog's plate methods (a mixin of ``SqliteCatalog``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from nvr.errors import CatalogError
from nvr.plate_text import canonical, parse_plate, plate_distance
from nvr.storage.plates_catalog import NewSighting, PlateQuery, PlateSighting, WatchEntry

__all__ = ["SqlitePlatesMixin"]

SEVERITIES = ("info", "low", "medium", "high", "critical")
MAX_LIMIT = 10_000

_SIGHTING = (
    "s.id, c.name, s.plate, s.plate_key, s.confidence, s.reads, s.agreement, s.first_seen, s.last_seen,"
    " s.best_time, s.footage_start, s.footage_end, s.track_id, s.box, s.alternatives,"
    " EXISTS (SELECT 1 FROM plate_crops p WHERE p.sighting_id = s.id), s.alert_event_id, s.watch_plate, s.created_at"
)
_FROM = " FROM plate_sightings s JOIN cameras c ON c.id = s.camera_id"
_WATCH = "id, plate, plate_key, reason, owner, severity, created_by, created_at, removed_at"


def _sighting(row: Sequence[Any], distance: float | None = None) -> PlateSighting:
    box = json.loads(row[13]) if row[13] else None
    return PlateSighting(
        id=row[0], camera=row[1], plate=row[2], plate_key=row[3], confidence=float(row[4]), reads=row[5],
        agreement=float(row[6]), first_us=row[7], last_us=row[8], best_us=row[9], footage_start_us=row[10],
        footage_end_us=row[11], track_id=row[12], box=tuple(box) if box else None,
        alternatives=tuple((str(p), int(n)) for p, n in json.loads(row[14] or "[]")), has_crop=bool(row[15]),
        alert_event_id=row[16], watch_plate=row[17], created_at=row[18], distance=distance,
    )


def _watch(row: Sequence[Any]) -> WatchEntry:
    return WatchEntry(*row)


class SqlitePlatesMixin:
    """Needs ``_call``, ``_write``, ``_c`` and ``_now`` from ``SqliteCatalog``."""

    _c: sqlite3.Connection
    _call: Callable[..., Any]
    _write: Callable[[], Any]
    _now: Callable[[], int]

    # -- sightings ---------------------------------------------------------

    async def add_plate_sighting(self, new: NewSighting, crop_jpeg: bytes | None = None,
                                 crop_size: tuple[int, int] = (0, 0)) -> PlateSighting:
        if not new.plate_key or new.plate_key != canonical(new.plate_key):
            raise CatalogError(f"plate key must be letters and digits only, not {new.plate_key!r}")
        if new.last_us < new.first_us or new.reads < 1:
            raise CatalogError("a sighting needs at least one read and must not end before it starts")
        return await self._call(self._add_sighting, new, crop_jpeg, crop_size)

    def _add_sighting(self, new: NewSighting, jpeg: bytes | None, size: tuple[int, int]) -> PlateSighting:
        with self._write() as c:
            row = c.execute("SELECT id FROM cameras WHERE name = ?", (new.camera,)).fetchone()
            if row is None:
                raise CatalogError(f"cannot add plate sighting: unknown camera {new.camera!r}")
            sighting_id = c.execute(
                "INSERT INTO plate_sightings (camera_id, plate, plate_key, confidence, reads, agreement, first_seen,"
                " last_seen, best_time, track_id, box, alternatives, footage_start, footage_end, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (row[0], new.plate, new.plate_key, new.confidence, new.reads, new.agreement, new.first_us,
                 new.last_us, new.best_us, new.track_id, json.dumps(list(new.box)) if new.box else None,
                 json.dumps([list(a) for a in new.alternatives]), min(new.footage_start_us, new.first_us),
                 max(new.footage_end_us, new.last_us), self._now()),
            ).fetchall()[0][0]
            if jpeg:
                c.execute("INSERT INTO plate_crops (sighting_id, jpeg, width, height) VALUES (?, ?, ?, ?)",
                          (sighting_id, bytes(jpeg), size[0], size[1]))
            return self._get_sighting(sighting_id)  # type: ignore[return-value]

    def _get_sighting(self, sighting_id: int) -> PlateSighting | None:
        row = self._c.execute(f"SELECT {_SIGHTING}{_FROM} WHERE s.id = ?", (sighting_id,)).fetchone()
        return None if row is None else _sighting(row)

    async def get_plate_sighting(self, sighting_id: int) -> PlateSighting | None:
        return await self._call(self._get_sighting, sighting_id)

    async def search_plates(self, query: PlateQuery) -> list[PlateSighting]:
        key = canonical(query.text)
        if not key and query.mode != "prefix":
            raise CatalogError("a plate search needs at least one letter or digit (or prefix mode: all plates)")
        if query.mode not in ("exact", "prefix", "fuzzy"):
            raise CatalogError(f"unknown plate search mode {query.mode!r}: use exact, prefix or fuzzy")
        if query.max_distance < 0:
            raise CatalogError("max_distance must not be negative")
        return await self._call(self._search, query, key)

    def _search(self, query: PlateQuery, key: str) -> list[PlateSighting]:
        clauses, params = _filter_sql(query)
        limit = max(1, min(query.limit, MAX_LIMIT))
        if query.mode == "exact":
            clauses.append("s.plate_key = ?")
            params.append(key)
        elif query.mode == "prefix" and key:
            clauses.append("s.plate_key >= ? AND s.plate_key < ?")
            params += [key, key + "\x7f"]  # keys are ASCII letters and digits: DEL sorts after all of them
        if query.mode != "fuzzy":
            sql = f"SELECT {_SIGHTING}{_FROM} WHERE {' AND '.join(clauses)} ORDER BY s.id DESC LIMIT ?"
            return [_sighting(r) for r in self._c.execute(sql, (*params, limit)).fetchall()]
        self._c.create_function("nvr_plate_distance", 2, plate_distance, deterministic=True)
        slack = int(query.max_distance)
        clauses.append("length(s.plate_key) BETWEEN ? AND ?")
        params += [len(key) - slack, len(key) + slack]
        clauses.append("nvr_plate_distance(s.plate_key, ?) <= ?")
        params += [key, query.max_distance + 1e-9]
        sql = (f"SELECT {_SIGHTING}, nvr_plate_distance(s.plate_key, ?){_FROM} WHERE {' AND '.join(clauses)}"
               " ORDER BY 20, s.best_time DESC, s.id DESC LIMIT ?")
        rows = self._c.execute(sql, (key, *params, limit)).fetchall()
        return [_sighting(r[:19], round(float(r[19]), 4)) for r in rows]

    async def plate_crop(self, sighting_id: int) -> bytes | None:
        return await self._call(self._crop, sighting_id)

    def _crop(self, sighting_id: int) -> bytes | None:
        row = self._c.execute("SELECT jpeg FROM plate_crops WHERE sighting_id = ?", (sighting_id,)).fetchone()
        return None if row is None else bytes(row[0])

    async def link_plate_alert(self, sighting_id: int, event_id: int, watch_plate: str) -> PlateSighting:
        return await self._call(self._link_alert, sighting_id, event_id, watch_plate)

    def _link_alert(self, sighting_id: int, event_id: int, watch_plate: str) -> PlateSighting:
        with self._write() as c:
            c.execute("UPDATE plate_sightings SET alert_event_id = ?, watch_plate = ? WHERE id = ?",
                      (event_id, watch_plate, sighting_id))
            sighting = self._get_sighting(sighting_id)
        if sighting is None:
            raise CatalogError(f"unknown plate sighting {sighting_id}")
        return sighting

    async def delete_plate_sightings_before(self, before_us: int, limit: int = 10_000) -> int:
        return await self._call(self._delete_before, before_us, max(1, limit))

    def _delete_before(self, before_us: int, limit: int) -> int:
        with self._write() as c:
            ids = [r[0] for r in c.execute("SELECT id FROM plate_sightings WHERE best_time < ? AND last_seen < ?"
                                           " ORDER BY best_time LIMIT ?", (before_us, before_us, limit))]
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ", ".join("?" * len(chunk))
                c.execute(f"DELETE FROM plate_crops WHERE sighting_id IN ({marks})", chunk)
                c.execute(f"DELETE FROM plate_sightings WHERE id IN ({marks})", chunk)
            return len(ids)

    # -- watchlist ---------------------------------------------------------

    async def add_watch_entry(self, plate: str, reason: str, owner: str, severity: str, created_by: str,
                              at_us: int) -> WatchEntry:
        parsed = parse_plate(plate)
        if parsed is None:
            raise CatalogError(f"not an Indonesian plate: {plate!r} (region code, 1-4 digits, 0-3 letters)")
        if not reason.strip() or not owner.strip() or not created_by:
            raise CatalogError("a watchlist entry needs a reason, an owner and who added it")
        if severity not in SEVERITIES:
            raise CatalogError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        return await self._call(self._add_watch, parsed.text, parsed.key, reason.strip(), owner.strip(), severity,
                                created_by, at_us)

    def _add_watch(self, plate: str, key: str, reason: str, owner: str, severity: str, by: str,
                   at_us: int) -> WatchEntry:
        with self._write() as c:
            if c.execute("SELECT 1 FROM plate_watchlist WHERE plate_key = ? AND removed_at IS NULL",
                         (key,)).fetchone():
                raise CatalogError(f"{plate} is already on the watchlist")
            row = c.execute(
                f"INSERT INTO plate_watchlist (plate, plate_key, reason, owner, severity, created_by, created_at)"
                f" VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_WATCH}",
                (plate, key, reason, owner, severity, by, at_us)).fetchall()[0]
            return _watch(row)

    async def remove_watch_entry(self, entry_id: int, by: str, at_us: int) -> WatchEntry:
        return await self._call(self._remove_watch, entry_id, by, at_us)

    def _remove_watch(self, entry_id: int, by: str, at_us: int) -> WatchEntry:
        with self._write() as c:
            updated = c.execute("UPDATE plate_watchlist SET removed_at = ?, removed_by = ? WHERE id = ?"
                                " AND removed_at IS NULL", (at_us, by, entry_id)).rowcount
            row = c.execute(f"SELECT {_WATCH} FROM plate_watchlist WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise CatalogError(f"unknown watchlist entry {entry_id}")
        if not updated:
            raise CatalogError(f"watchlist entry {entry_id} was already removed")
        return _watch(row)

    async def list_watch_entries(self, include_removed: bool = False) -> list[WatchEntry]:
        return await self._call(self._list_watch, include_removed)

    def _list_watch(self, include_removed: bool) -> list[WatchEntry]:
        where = "" if include_removed else " WHERE removed_at IS NULL"
        return [_watch(r) for r in self._c.execute(f"SELECT {_WATCH} FROM plate_watchlist{where} ORDER BY id")]


def _filter_sql(query: PlateQuery) -> tuple[list[str], list[Any]]:
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    if query.cameras is not None:
        if not query.cameras:
            return ["0 = 1"], []
        clauses.append(f"c.name IN ({', '.join('?' * len(query.cameras))})")
        params.extend(query.cameras)
    if query.start_us is not None:
        clauses.append("s.last_seen >= ?")
        params.append(query.start_us)
    if query.end_us is not None:
        clauses.append("s.first_seen < ?")
        params.append(query.end_us)
    if query.min_confidence > 0:
        clauses.append("s.confidence >= ?")
        params.append(query.min_confidence)
    if query.before_id is not None:
        clauses.append("s.id < ?")
        params.append(query.before_id)
    return clauses, params
