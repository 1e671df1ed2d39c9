"""SQLite implementation of the catalog's event methods (a mixin of ``SqliteCatalog``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from nvr.errors import CatalogError
from nvr.models import Event
from nvr.storage.events_catalog import EventFilter, NewEvent, Snapshot

__all__ = ["SqliteEventsMixin"]

_EVENT = (
    "e.id, c.name, e.kind, e.label, e.score, e.start_time, e.end_time, e.ongoing, e.track_id, e.box, e.zones,"
    " e.severity, e.agency, e.rule, EXISTS (SELECT 1 FROM event_snapshots p WHERE p.event_id = e.id),"
    " e.pre_roll, e.post_roll, e.acknowledged_at, e.acknowledged_by, e.ack_note"
)
_FROM = " FROM events e JOIN cameras c ON c.id = e.camera_id"


def _box(text: str | None) -> tuple[float, ...] | None:
    """The stored JSON list of four numbers (``json.dumps``), read without the JSON parser: a list of 50 events
    reads 50 boxes, and ``json.loads`` was most of the time the query took."""
    if not text or text == "[]":
        return None
    try:
        return tuple(float(x) for x in text[1:-1].split(","))
    except ValueError:
        return tuple(json.loads(text)) or None


def _event(row: Sequence[Any]) -> Event:
    zones = row[10]
    return Event(
        id=row[0], camera=row[1], kind=row[2], label=row[3], score=float(row[4]), start_us=row[5],
        end_us=row[6], ongoing=bool(row[7]), track_id=row[8], box=_box(row[9]),  # type: ignore[arg-type]
        zones=() if not zones or zones == "[]" else tuple(json.loads(zones)), severity=row[11], agency=row[12],
        rule=row[13],
        has_snapshot=bool(row[14]), pre_roll_us=row[15], post_roll_us=row[16], acknowledged_at=row[17],
        acknowledged_by=row[18], ack_note=row[19],
    )


class SqliteEventsMixin:
    """Needs ``_call``, ``_write``, ``_c`` and ``_now`` from ``SqliteCatalog``."""

    _c: sqlite3.Connection
    _call: Callable[..., Any]
    _write: Callable[[], Any]
    _now: Callable[[], int]

    async def open_event(self, new: NewEvent, snapshot: Snapshot | None = None) -> Event:
        if new.end_us < new.start_us:
            raise CatalogError(f"event ends before it starts: end {new.end_us} < start {new.start_us}")
        if not new.kind or not new.label:
            raise CatalogError("event kind and label must not be empty")
        return await self._call(self._open_event, new, snapshot)

    def _open_event(self, new: NewEvent, snapshot: Snapshot | None) -> Event:
        with self._write() as c:
            row = c.execute("SELECT id FROM cameras WHERE name = ?", (new.camera,)).fetchone()
            if row is None:
                raise CatalogError(f"cannot add event: unknown camera {new.camera!r}")
            now = self._now()
            event_id = c.execute(
                "INSERT INTO events (camera_id, kind, start_time, end_time, created_at, label, score, ongoing,"
                " track_id, box, zones, severity, agency, rule, pre_roll, post_roll, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, TRUE, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (row[0], new.kind, new.start_us, new.end_us, now, new.label, new.score, new.track_id,
                 json.dumps(list(new.box)) if new.box else None, json.dumps(list(new.zones)), new.severity,
                 new.agency, new.rule, new.pre_roll_us, new.post_roll_us, now),
            ).fetchall()[0][0]
            if snapshot is not None:
                self._insert_snapshot(c, event_id, snapshot)
            return self._get_event(event_id)  # type: ignore[return-value]

    async def update_event(self, event_id: int, *, end_us: int | None = None, score: float | None = None,
                           box: tuple[float, float, float, float] | None = None,
                           zones: Iterable[str] | None = None, ongoing: bool | None = None,
                           severity: str | None = None) -> Event:
        sets: list[str] = []
        params: list[Any] = []
        if end_us is not None:
            sets.append("end_time = MAX(start_time, ?)")
            params.append(end_us)
        if score is not None:
            sets.append("score = ?")
            params.append(score)
        if box is not None:
            sets.append("box = ?")
            params.append(json.dumps(list(box)))
        if zones is not None:
            sets.append("zones = ?")
            params.append(json.dumps(list(zones)))
        if ongoing is not None:
            sets.append("ongoing = ?")
            params.append(bool(ongoing))
        if severity is not None:
            sets.append("severity = ?")
            params.append(severity)
        return await self._call(self._update_event, event_id, sets, params)

    def _update_event(self, event_id: int, sets: list[str], params: list[Any]) -> Event:
        with self._write() as c:
            if sets:
                c.execute(f"UPDATE events SET {', '.join(sets)}, updated_at = ? WHERE id = ?",
                          (*params, self._now(), event_id))
            event = self._get_event(event_id)
        if event is None:
            raise CatalogError(f"unknown event {event_id}")
        return event

    def _get_event(self, event_id: int) -> Event | None:
        row = self._c.execute(f"SELECT {_EVENT}{_FROM} WHERE e.id = ?", (event_id,)).fetchone()
        return None if row is None else _event(row)

    async def get_event(self, event_id: int) -> Event | None:
        return await self._call(self._get_event, event_id)

    async def list_events(self, where: EventFilter) -> list[Event]:
        clauses, params = _filter_sql(where)
        sql = f"SELECT {_EVENT}{_FROM}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY e.id DESC LIMIT ?"
        return await self._call(self._list_events, sql, (*params, max(1, min(where.limit, 10_000))))

    def _list_events(self, sql: str, params: Sequence[Any]) -> list[Event]:
        return [_event(row) for row in self._c.execute(sql, params).fetchall()]

    async def set_event_snapshot(self, event_id: int, jpeg: bytes, width: int, height: int, taken_us: int) -> None:
        await self._call(self._set_snapshot, event_id, bytes(jpeg), width, height, taken_us)

    def _set_snapshot(self, event_id: int, jpeg: bytes, width: int, height: int, taken_us: int) -> None:
        with self._write() as c:
            if c.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is None:
                raise CatalogError(f"unknown event {event_id}")
            c.execute("DELETE FROM event_snapshots WHERE event_id = ?", (event_id,))
            self._insert_snapshot(c, event_id, Snapshot(jpeg, width, height, taken_us))

    @staticmethod
    def _insert_snapshot(c: sqlite3.Connection, event_id: int, snap: Snapshot) -> None:
        c.execute("INSERT INTO event_snapshots (event_id, jpeg, width, height, taken_at) VALUES (?, ?, ?, ?, ?)",
                  (event_id, bytes(snap.jpeg), snap.width, snap.height, snap.taken_us))

    async def event_snapshot(self, event_id: int) -> bytes | None:
        return await self._call(self._snapshot, event_id)

    def _snapshot(self, event_id: int) -> bytes | None:
        row = self._c.execute("SELECT jpeg FROM event_snapshots WHERE event_id = ?", (event_id,)).fetchone()
        return None if row is None else bytes(row[0])

    async def acknowledge_event(self, event_id: int, by: str, note: str | None, at_us: int) -> Event:
        if not by:
            raise CatalogError("an acknowledgement needs the user who made it")
        return await self._call(self._acknowledge, event_id, by, note, at_us)

    def _acknowledge(self, event_id: int, by: str, note: str | None, at_us: int) -> Event:
        with self._write() as c:
            c.execute("UPDATE events SET acknowledged_at = ?, acknowledged_by = ?, ack_note = ?, updated_at = ?"
                      " WHERE id = ?", (at_us, by, note, self._now(), event_id))
            event = self._get_event(event_id)
        if event is None:
            raise CatalogError(f"unknown event {event_id}")
        return event

    async def end_ongoing_events(self, at_us: int) -> int:
        return await self._call(self._end_ongoing, at_us)

    def _end_ongoing(self, at_us: int) -> int:
        with self._write() as c:
            return c.execute("UPDATE events SET ongoing = FALSE, updated_at = ? WHERE ongoing",
                             (at_us,)).rowcount


def _filter_sql(where: EventFilter) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if where.cameras is not None:
        if not where.cameras:
            return ["0 = 1"], []
        clauses.append(f"c.name IN ({', '.join('?' * len(where.cameras))})")
        params.extend(where.cameras)
    for column, value in (("e.label", where.label), ("e.kind", where.kind)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if where.zone is not None:
        clauses.append("EXISTS (SELECT 1 FROM json_each(e.zones) z WHERE z.value = ?)")
        params.append(where.zone)
    if where.start_us is not None:
        clauses.append("e.end_time >= ?")
        params.append(where.start_us)
    if where.end_us is not None:
        clauses.append("e.start_time < ?")
        params.append(where.end_us)
    if where.ongoing is not None:
        clauses.append("e.ongoing = ?")
        params.append(where.ongoing)
    if where.acknowledged is not None:
        clauses.append("e.acknowledged_at IS NOT NULL" if where.acknowledged else "e.acknowledged_at IS NULL")
    if where.before_id is not None:
        clauses.append("e.id < ?")
        params.append(where.before_id)
    return clauses, params


