"""SQLite implementation of the kelurahan plugin's records (a mixin of ``SqliteCatalog``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from nvr.errors import CatalogError
from nvr.storage.kelurahan_catalog import Delivery, Escalation, NewShare, Share

__all__ = ["SqliteKelurahanMixin"]

_SHARE = ("SELECT id, camera, kind, start_time, end_time, label, created_by, created_at, expires_at, revoked_at,"
          " revoked_by, uses, last_used_at FROM kelurahan_shares")
_ESC = "SELECT id, event_id, agency, note, escalated_by, escalated_at FROM kelurahan_escalations"
_DEL = ("SELECT id, webhook, kind, event_id, payload, state, attempts, last_status, last_error, created_at,"
        " updated_at, delivered_at FROM kelurahan_deliveries")
DELIVERY_STATES = ("pending", "delivered", "failed")


class SqliteKelurahanMixin:
    """Needs ``_call``, ``_write``, ``_c`` and ``_now`` from ``SqliteCatalog``."""

    _c: sqlite3.Connection
    _call: Callable[..., Any]
    _write: Callable[[], Any]
    _now: Callable[[], int]

    # -- share links -------------------------------------------------------------

    async def create_share(self, share: NewShare) -> Share:
        if share.kind not in ("live", "clip"):
            raise CatalogError(f"kind: live or clip, not {share.kind!r}")
        if share.kind == "clip" and (share.start_us is None or share.end_us is None or share.end_us <= share.start_us):
            raise CatalogError("a clip share needs start_us < end_us")
        return await self._call(self._create_share, share)

    def _create_share(self, s: NewShare) -> Share:
        now = self._now()
        if s.expires_at <= now:
            raise CatalogError("expires_at must be in the future")
        with self._write() as c:
            share_id = c.execute(
                "INSERT INTO kelurahan_shares (camera, kind, start_time, end_time, label, created_by, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (s.camera, s.kind, s.start_us if s.kind == "clip" else None, s.end_us if s.kind == "clip" else None,
                 s.label, s.created_by, now, s.expires_at)).fetchall()[0][0]
            return Share(*c.execute(f"{_SHARE} WHERE id = ?", (share_id,)).fetchone())

    async def get_share(self, share_id: int) -> Share | None:
        return await self._call(lambda: self._one_share(share_id))

    def _one_share(self, share_id: int) -> Share | None:
        row = self._c.execute(f"{_SHARE} WHERE id = ?", (share_id,)).fetchone()
        return None if row is None else Share(*row)

    async def list_shares(self, cameras: tuple[str, ...] | None = None, limit: int = 200) -> list[Share]:
        def run() -> list[Share]:
            if cameras is not None and not cameras:
                return []
            where, params = "", []
            if cameras is not None:
                where = f" WHERE camera IN ({', '.join('?' * len(cameras))})"
                params = list(cameras)
            rows = self._c.execute(f"{_SHARE}{where} ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
            return [Share(*r) for r in rows]
        return await self._call(run)

    async def revoke_share(self, share_id: int, by: str, now_us: int) -> Share:
        def run() -> Share:
            with self._write() as c:
                c.execute("UPDATE kelurahan_shares SET revoked_at = ?, revoked_by = ? WHERE id = ?"
                          " AND revoked_at IS NULL", (now_us, by, share_id))
            share = self._one_share(share_id)
            if share is None:
                raise CatalogError(f"unknown share link {share_id}")
            return share
        return await self._call(run)

    async def record_share_use(self, share_id: int, now_us: int) -> None:
        def run() -> None:
            with self._write() as c:
                c.execute("UPDATE kelurahan_shares SET uses = uses + 1, last_used_at = ? WHERE id = ?",
                          (now_us, share_id))
        await self._call(run)

    # -- escalations -------------------------------------------------------------

    async def add_escalation(self, event_id: int, agency: str, note: str | None, by: str, now_us: int) -> Escalation:
        if not agency.strip():
            raise CatalogError("agency: name the agency (OPD)")

        def run() -> Escalation:
            with self._write() as c:
                if c.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is None:
                    raise CatalogError(f"unknown event {event_id}")
                esc_id = c.execute("INSERT INTO kelurahan_escalations (event_id, agency, note, escalated_by,"
                                   " escalated_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                                   (event_id, agency.strip(), note, by, now_us)).fetchall()[0][0]
                return Escalation(*c.execute(f"{_ESC} WHERE id = ?", (esc_id,)).fetchone())
        return await self._call(run)

    async def escalations(self, event_ids: tuple[int, ...]) -> list[Escalation]:
        if not event_ids:
            return []
        sql = f"{_ESC} WHERE event_id IN ({', '.join('?' * len(event_ids))}) ORDER BY id"
        return await self._call(lambda: [Escalation(*r) for r in self._c.execute(sql, event_ids).fetchall()])

    # -- webhook deliveries ------------------------------------------------------

    async def add_delivery(self, webhook: str, kind: str, event_id: int | None, payload: str) -> Delivery:
        def run() -> Delivery:
            now = self._now()
            with self._write() as c:
                delivery_id = c.execute(
                    "INSERT INTO kelurahan_deliveries (webhook, kind, event_id, payload, state, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, 'pending', ?, ?) RETURNING id",
                    (webhook, kind, event_id, payload, now, now)).fetchall()[0][0]
                return Delivery(*c.execute(f"{_DEL} WHERE id = ?", (delivery_id,)).fetchone())
        return await self._call(run)

    async def update_delivery(self, delivery_id: int, state: str, attempts: int, status: int | None,
                              error: str | None) -> Delivery:
        if state not in DELIVERY_STATES:
            raise CatalogError(f"state: one of {', '.join(DELIVERY_STATES)}")

        def run() -> Delivery:
            now = self._now()
            with self._write() as c:
                c.execute("UPDATE kelurahan_deliveries SET state = ?, attempts = ?, last_status = ?, last_error = ?,"
                          " updated_at = ?, delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END"
                          " WHERE id = ?", (state, attempts, status, error, now, state, now, delivery_id))
                row = c.execute(f"{_DEL} WHERE id = ?", (delivery_id,)).fetchone()
            if row is None:
                raise CatalogError(f"unknown delivery {delivery_id}")
            return Delivery(*row)
        return await self._call(run)

    async def pending_deliveries(self, limit: int = 1000) -> list[Delivery]:
        sql = f"{_DEL} WHERE state = 'pending' ORDER BY id LIMIT ?"
        return await self._call(lambda: [Delivery(*r) for r in self._c.execute(sql, (limit,)).fetchall()])

    async def event_deliveries(self, event_id: int, kind: str = "event") -> list[Delivery]:
        sql = f"{_DEL} WHERE event_id = ? AND kind = ? ORDER BY id"
        return await self._call(lambda: [Delivery(*r) for r in self._c.execute(sql, (event_id, kind)).fetchall()])

    async def list_deliveries(self, webhook: str | None = None, limit: int = 100) -> list[Delivery]:
        where, params = ("", ()) if webhook is None else (" WHERE webhook = ?", (webhook,))
        sql = f"{_DEL}{where} ORDER BY id DESC LIMIT ?"
        return await self._call(lambda: [Delivery(*r) for r in self._c.execute(sql, (*params, limit)).fetchall()])
