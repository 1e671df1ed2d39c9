"""SQLite implementation of the catalog's complaint methods (a mixin of ``SqliteCatalog``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from nvr.errors import CatalogError
from nvr.storage.complaints_catalog import (
    STATUSES,
    CameraLink,
    Complaint,
    ComplaintConflict,
    ComplaintFilter,
    EventLink,
    NewCameraLink,
    NewComplaint,
    Reporter,
)

__all__ = ["SqliteComplaintsMixin"]

_COMPLAINT = ("k.id, k.external_id, k.category, k.body, k.lat, k.lon, k.reported_at, k.received_at, k.status,"
              " k.agency, k.kelurahan, k.source, k.linked_at, k.responded_at, k.closed_at, k.updated_at,"
              " EXISTS (SELECT 1 FROM complaint_photos p WHERE p.complaint_id = k.id)")
_SELECT = f"SELECT {_COMPLAINT} FROM complaints k"
_LINK = ("SELECT c.name, l.link_rank, l.distance_m, l.bearing_deg, l.facing, l.start_time, l.end_time, l.hold_id,"
         " l.created_at FROM complaint_cameras l JOIN cameras c ON c.id = l.camera_id")
MAX_LIMIT = 1000


def _complaint(*row: Any) -> Complaint:
    return Complaint(*row[:16], has_photo=bool(row[16]))


def _link(*row: Any) -> CameraLink:
    return CameraLink(row[0], row[1], float(row[2]), float(row[3]), None if row[4] is None else bool(row[4]),
                      *row[5:])


def _where(where: ComplaintFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, values in (("k.status", where.statuses), ("k.kelurahan", where.scope)):
        if values is not None:
            if not values:
                return " WHERE 1 = 0", []
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params += list(values)
    for column, value in (("k.category", where.category), ("k.kelurahan", where.kelurahan)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if where.reported_after_us is not None:
        clauses.append("k.reported_at >= ?")
        params.append(where.reported_after_us)
    if where.reported_before_us is not None:
        clauses.append("k.reported_at < ?")
        params.append(where.reported_before_us)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class SqliteComplaintsMixin:
    """Needs ``_call``, ``_write``, ``_c``, ``_now``, ``_one`` and ``_all`` from ``SqliteCatalog``."""

    _c: sqlite3.Connection
    _call: Callable[..., Any]
    _write: Callable[[], Any]
    _now: Callable[[], int]
    _one: Callable[..., Any]
    _all: Callable[..., Any]

    # -- intake --------------------------------------------------------------

    async def add_complaint(self, new: NewComplaint, actor: str = "intake") -> tuple[Complaint, bool]:
        if not new.external_id or not new.category:
            raise CatalogError("a complaint needs an external id and a category")
        return await self._call(self._add_complaint, new, actor or "intake")

    def _add_complaint(self, new: NewComplaint, actor: str) -> tuple[Complaint, bool]:
        with self._write() as c:  # BEGIN IMMEDIATE: concurrent posts of one id queue here, the second finds the first
            found = self._one(f"{_SELECT} WHERE k.external_id = ?", (new.external_id,), _complaint)
            if found is not None:
                return found, False
            now = self._now() if new.received_us is None else new.received_us
            complaint_id = c.execute(
                "INSERT INTO complaints (external_id, category, body, lat, lon, reported_at, received_at, status,"
                " agency, kelurahan, source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?) RETURNING id",
                (new.external_id, new.category, new.body, new.lat, new.lon, new.reported_us, now, new.agency,
                 new.kelurahan, new.source, now)).fetchall()[0][0]
            if new.reporter is not None:
                c.execute("INSERT INTO complaint_reporters (complaint_id, name, contact, reporter_ref)"
                          " VALUES (?, ?, ?, ?)",
                          (complaint_id, new.reporter.name, new.reporter.contact, new.reporter.reporter_ref))
            if new.photo is not None:
                c.execute("INSERT INTO complaint_photos (complaint_id, content_type, data) VALUES (?, ?, ?)",
                          (complaint_id, new.photo[0], new.photo[1]))
            c.execute("INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                      (now, actor, "complaint.received", f"complaint:{complaint_id}",
                       json.dumps({"external_id": new.external_id, "category": new.category, "source": new.source},
                                  sort_keys=True)))
            return self._one(f"{_SELECT} WHERE k.id = ?", (complaint_id,), _complaint), True

    # -- reading -------------------------------------------------------------

    async def get_complaint(self, complaint_id: int) -> Complaint | None:
        return await self._call(self._one, f"{_SELECT} WHERE k.id = ?", (complaint_id,), _complaint)

    async def complaint_by_external_id(self, external_id: str) -> Complaint | None:
        return await self._call(self._one, f"{_SELECT} WHERE k.external_id = ?", (external_id,), _complaint)

    async def list_complaints(self, where: ComplaintFilter) -> list[Complaint]:
        sql, params = _where(where)
        limit = max(1, min(where.limit, MAX_LIMIT))
        return await self._call(self._all, f"{_SELECT}{sql} ORDER BY k.reported_at DESC, k.id DESC LIMIT ? OFFSET ?",
                                (*params, limit, max(0, where.offset)), _complaint)

    async def count_complaints(self, where: ComplaintFilter) -> int:
        sql, params = _where(where)
        return await self._call(lambda: int(self._c.execute(f"SELECT COUNT(*) FROM complaints k{sql}",
                                                            params).fetchone()[0]))

    async def complaint_kelurahans(self) -> list[str]:
        return await self._call(lambda: [r[0] for r in self._c.execute(
            "SELECT DISTINCT kelurahan FROM complaints WHERE kelurahan IS NOT NULL ORDER BY kelurahan")])

    async def complaint_reporter(self, complaint_id: int) -> Reporter | None:
        return await self._call(self._one, "SELECT name, contact, reporter_ref FROM complaint_reporters"
                                " WHERE complaint_id = ?", (complaint_id,), Reporter)

    async def complaint_photo(self, complaint_id: int) -> tuple[str, bytes] | None:
        return await self._call(self._one, "SELECT content_type, data FROM complaint_photos WHERE complaint_id = ?",
                                (complaint_id,), lambda t, d: (str(t), bytes(d)))

    async def complaint_cameras(self, complaint_id: int) -> list[CameraLink]:
        return await self._call(self._all, f"{_LINK} WHERE l.complaint_id = ? ORDER BY l.link_rank, l.id",
                                (complaint_id,), _link)

    async def complaint_events(self, complaint_id: int) -> list[EventLink]:
        sql = ("SELECT e.id, c.name, e.kind, e.label, e.start_time, e.end_time, l.hold_id, l.created_at"
               " FROM complaint_events l JOIN events e ON e.id = l.event_id JOIN cameras c ON c.id = e.camera_id"
               " WHERE l.complaint_id = ? ORDER BY e.start_time, e.id")
        return await self._call(self._all, sql, (complaint_id,), EventLink)

    # -- linking and status ----------------------------------------------------

    async def link_complaint(self, complaint_id: int, cameras: list[NewCameraLink], events: list[tuple[int, int, int]],
                             kelurahan: str | None, actor: str, now_us: int,
                             hold_expires_us: int | None = None) -> tuple[Complaint, list[CameraLink], list[int]]:
        for link in cameras:
            if link.end_us <= link.start_us:
                raise CatalogError(f"camera {link.camera!r}: empty footage window")
        return await self._call(self._link, complaint_id, cameras, events, kelurahan, actor, now_us, hold_expires_us)

    def _hold(self, c: sqlite3.Connection, camera_id: int, start: int, end: int, reason: str, actor: str,
              expires: int | None) -> int:
        return c.execute("INSERT INTO holds (camera_id, start_time, end_time, reason, created_by, created_at,"
                         " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                         (camera_id, start, max(end, start + 1), reason, actor, self._now(), expires)).fetchall()[0][0]

    def _link(self, complaint_id: int, cameras: list[NewCameraLink], events: list[tuple[int, int, int]],
              kelurahan: str | None, actor: str, now_us: int,
              expires: int | None) -> tuple[Complaint, list[CameraLink], list[int]]:
        with self._write() as c:
            row = c.execute("SELECT external_id, status FROM complaints WHERE id = ?", (complaint_id,)).fetchone()
            if row is None:
                raise CatalogError(f"unknown complaint {complaint_id}")
            reason = f"complaint {row[0]}"
            linked = {r[0] for r in c.execute("SELECT camera_id FROM complaint_cameras WHERE complaint_id = ?",
                                              (complaint_id,))}
            new_cameras: list[str] = []
            for link in cameras:
                cam = c.execute("SELECT id FROM cameras WHERE name = ?", (link.camera,)).fetchone()
                if cam is None:
                    raise CatalogError(f"cannot link complaint: unknown camera {link.camera!r}")
                if cam[0] in linked:
                    continue
                hold_id = self._hold(c, cam[0], link.start_us, link.end_us, reason, actor, expires)
                c.execute("INSERT INTO complaint_cameras (complaint_id, camera_id, link_rank, distance_m, bearing_deg,"
                          " facing, start_time, end_time, hold_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (complaint_id, cam[0], link.rank, link.distance_m, link.bearing_deg,
                           None if link.facing is None else int(link.facing), link.start_us, link.end_us, hold_id,
                           now_us))
                linked.add(cam[0])
                new_cameras.append(link.camera)
            for name_rank in cameras:  # ranks of earlier links follow the latest ordering
                c.execute("UPDATE complaint_cameras SET link_rank = ? WHERE complaint_id = ? AND camera_id ="
                          " (SELECT id FROM cameras WHERE name = ?)", (name_rank.rank, complaint_id, name_rank.camera))
            known = {r[0] for r in c.execute("SELECT event_id FROM complaint_events WHERE complaint_id = ?",
                                             (complaint_id,))}
            new_events: list[int] = []
            for event_id, start, end in events:
                if event_id in known:
                    continue
                ev = c.execute("SELECT camera_id FROM events WHERE id = ?", (event_id,)).fetchone()
                if ev is None:
                    raise CatalogError(f"cannot link complaint: unknown event {event_id}")
                hold_id = self._hold(c, ev[0], start, end, reason, actor, expires)
                c.execute("INSERT INTO complaint_events (complaint_id, event_id, hold_id, created_at)"
                          " VALUES (?, ?, ?, ?)", (complaint_id, event_id, hold_id, now_us))
                known.add(event_id)
                new_events.append(event_id)
            c.execute("UPDATE complaints SET linked_at = ?, updated_at = ?, kelurahan = COALESCE(kelurahan, ?)"
                      " WHERE id = ?", (now_us, now_us, kelurahan, complaint_id))
            if new_cameras or new_events:
                c.execute("INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                          (now_us, actor, "complaint.linked", f"complaint:{complaint_id}",
                           json.dumps({"cameras": new_cameras, "events": new_events}, sort_keys=True)))
            if row[1] == "new" and (linked or known):
                self._set_status(c, complaint_id, "new", "linked", actor, None, now_us)
            complaint = self._one(f"{_SELECT} WHERE k.id = ?", (complaint_id,), _complaint)
            links = [x for x in self._all(f"{_LINK} WHERE l.complaint_id = ? ORDER BY l.link_rank, l.id",
                                          (complaint_id,), _link) if x.camera in new_cameras]
        return complaint, links, new_events

    def _set_status(self, c: sqlite3.Connection, complaint_id: int, old: str, new: str, actor: str,
                    note: str | None, now_us: int) -> None:
        stamps = {"responded": ", responded_at = COALESCE(responded_at, ?)", "closed": ", closed_at = ?"}
        extra = stamps.get(new, "")
        params: list[Any] = [new, now_us] + ([now_us] if extra else []) + [complaint_id, old]
        cur = c.execute(f"UPDATE complaints SET status = ?, updated_at = ?{extra} WHERE id = ? AND status = ?", params)
        if cur.rowcount != 1:
            raise ComplaintConflict(f"status: the complaint is no longer {old!r}")
        detail: dict[str, Any] = {"from": old, "to": new}
        if note:
            detail["note"] = note
        c.execute("INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                  (now_us, actor, "complaint.status", f"complaint:{complaint_id}", json.dumps(detail, sort_keys=True)))

    async def set_complaint_status(self, complaint_id: int, status: str, allowed_from: tuple[str, ...], actor: str,
                                   note: str | None, now_us: int, hold_expires_us: int | None = None) -> Complaint:
        if status not in STATUSES:
            raise CatalogError(f"status: unknown status {status!r}; expected one of {', '.join(STATUSES)}")

        def run() -> Complaint:
            with self._write() as c:
                row = c.execute("SELECT status FROM complaints WHERE id = ?", (complaint_id,)).fetchone()
                if row is None:
                    raise CatalogError(f"unknown complaint {complaint_id}")
                if row[0] not in allowed_from:
                    raise ComplaintConflict(f"status: cannot go from {row[0]!r} to {status!r}")
                self._set_status(c, complaint_id, row[0], status, actor, note, now_us)
                if status == "closed":
                    c.execute("UPDATE holds SET expires_at = ? WHERE id IN (SELECT hold_id FROM complaint_cameras"
                              " WHERE complaint_id = ? UNION SELECT hold_id FROM complaint_events"
                              " WHERE complaint_id = ?)",
                              (hold_expires_us, complaint_id, complaint_id))
                return self._one(f"{_SELECT} WHERE k.id = ?", (complaint_id,), _complaint)

        return await self._call(run)

