"""SQLite implementation of the export-job and audit-log methods (mixed into ``SqliteCatalog``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, Literal

from nvr.errors import CatalogError
from nvr.storage.exports_catalog import AuditEntry, ExportJob, NewExportJob

__all__ = ["SqliteExportsMixin"]

_JOB = ("id, state, cameras, start_time, end_time, case_number, reason, created_by, created_at, updated_at,"
        " output_path, hold, hold_ids, started_at, finished_at, bytes_total, bytes_done, attempts, owner,"
        " heartbeat_at, error, result")
_CLAIMABLE = "(state = 'queued' OR (state = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < ?)))"


def _job(row: tuple[Any, ...]) -> ExportJob:
    return ExportJob(
        id=row[0], state=row[1], cameras=tuple(json.loads(row[2])), start_us=row[3], end_us=row[4], case=row[5],
        reason=row[6], created_by=row[7], created_at=row[8], updated_at=row[9], output_path=row[10],
        hold=bool(row[11]), hold_ids=tuple(json.loads(row[12])), started_at=row[13], finished_at=row[14],
        bytes_total=row[15], bytes_done=row[16], attempts=row[17], owner=row[18], heartbeat_at=row[19],
        error=row[20], result=None if row[21] is None else json.loads(row[21]),
    )


class SqliteExportsMixin:
    """Needs ``_call``, ``_write``, ``_c`` and ``_now`` from ``SqliteCatalog``."""

    _c: sqlite3.Connection
    _call: Callable[..., Any]
    _write: Callable[[], Any]
    _now: Callable[[], int]

    async def create_export_job(self, new: NewExportJob) -> ExportJob:
        if not new.cameras:
            raise CatalogError("an export job needs at least one camera")
        if new.end_us <= new.start_us:
            raise CatalogError(f"export ends before it starts: end {new.end_us} <= start {new.start_us}")
        if not new.case or not new.reason or not new.created_by:
            raise CatalogError("an export job needs a case number, a reason and who asked")
        return await self._call(self._create_job, new)

    def _create_job(self, new: NewExportJob) -> ExportJob:
        with self._write() as c:
            now = self._now()
            row = c.execute(
                f"INSERT INTO export_jobs (state, cameras, start_time, end_time, case_number, reason, created_by,"
                f" created_at, updated_at, output_path, hold) VALUES ('queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                f" RETURNING {_JOB}",
                (json.dumps(list(new.cameras)), new.start_us, new.end_us, new.case, new.reason, new.created_by,
                 now, now, new.output_path, bool(new.hold)),
            ).fetchall()[0]
            if "{id}" in new.output_path:
                row = c.execute(f"UPDATE export_jobs SET output_path = ? WHERE id = ? RETURNING {_JOB}",
                                (new.output_path.replace("{id}", str(row[0])), row[0])).fetchall()[0]
        return _job(row)

    def _get_job(self, job_id: int) -> ExportJob | None:
        row = self._c.execute(f"SELECT {_JOB} FROM export_jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    async def get_export_job(self, job_id: int) -> ExportJob | None:
        return await self._call(self._get_job, job_id)

    async def list_export_jobs(self, limit: int = 100, before_id: int | None = None) -> list[ExportJob]:
        sql = f"SELECT {_JOB} FROM export_jobs"
        params: list[Any] = []
        if before_id is not None:
            sql += " WHERE id < ?"
            params.append(before_id)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(max(1, min(limit, 10_000)))
        rows = await self._call(lambda: self._c.execute(sql, params).fetchall())
        return [_job(r) for r in rows]

    async def claimable_export_jobs(self, stale_us: int) -> list[int]:
        def run() -> list[int]:
            rows = self._c.execute(f"SELECT id FROM export_jobs WHERE {_CLAIMABLE} ORDER BY id",
                                   (self._now() - stale_us,)).fetchall()
            return [r[0] for r in rows]

        return await self._call(run)

    async def claim_export_job(self, job_id: int, owner: str, stale_us: int) -> ExportJob | None:
        def run() -> ExportJob | None:
            with self._write() as c:
                now = self._now()
                rows = c.execute(
                    f"UPDATE export_jobs SET state = 'running', owner = ?, heartbeat_at = ?, started_at = ?,"
                    f" updated_at = ?, attempts = attempts + 1, bytes_done = 0, error = NULL"
                    f" WHERE id = ? AND {_CLAIMABLE} RETURNING {_JOB}",
                    (owner, now, now, now, job_id, now - stale_us),
                ).fetchall()
            return _job(rows[0]) if rows else None

        return await self._call(run)

    async def update_export_progress(self, job_id: int, owner: str, bytes_done: int, bytes_total: int) -> bool:
        def run() -> bool:
            with self._write() as c:
                now = self._now()
                return c.execute(
                    "UPDATE export_jobs SET bytes_done = ?, bytes_total = ?, heartbeat_at = ?, updated_at = ?"
                    " WHERE id = ? AND owner = ? AND state = 'running'",
                    (bytes_done, bytes_total, now, now, job_id, owner),
                ).rowcount == 1

        return await self._call(run)

    async def release_export_job(self, job_id: int, owner: str) -> bool:
        def run() -> bool:
            with self._write() as c:
                return c.execute(
                    "UPDATE export_jobs SET state = 'queued', owner = NULL, updated_at = ?"
                    " WHERE id = ? AND owner = ? AND state = 'running'", (self._now(), job_id, owner)).rowcount == 1

        return await self._call(run)

    async def set_export_holds(self, job_id: int, hold_ids: list[int]) -> None:
        def run() -> None:
            with self._write() as c:
                if c.execute("UPDATE export_jobs SET hold_ids = ?, updated_at = ? WHERE id = ?",
                             (json.dumps(list(hold_ids)), self._now(), job_id)).rowcount != 1:
                    raise CatalogError(f"unknown export job {job_id}")

        await self._call(run)

    async def finish_export_job(self, job_id: int, owner: str | None, state: Literal["done", "failed"],
                                error: str | None = None, result: dict[str, Any] | None = None) -> ExportJob | None:
        if state not in ("done", "failed"):
            raise CatalogError(f"an export job finishes as done or failed, not {state!r}")

        def run() -> ExportJob | None:
            with self._write() as c:
                now = self._now()
                sql = ("UPDATE export_jobs SET state = ?, error = ?, result = ?, finished_at = ?, updated_at = ?,"
                       " heartbeat_at = ?, bytes_done = CASE WHEN ? = 'done' THEN bytes_total ELSE bytes_done END"
                       " WHERE id = ? AND state IN ('queued', 'running')")
                params: list[Any] = [state, error, None if result is None else json.dumps(result), now, now, now,
                                     state, job_id]
                if owner is not None:
                    sql += " AND owner = ?"
                    params.append(owner)
                rows = c.execute(sql + f" RETURNING {_JOB}", params).fetchall()
            return _job(rows[0]) if rows else None

        return await self._call(run)

    async def audit(self, actor: str, action: str, target: str | None = None,
                    detail: dict[str, Any] | None = None) -> int:
        if not actor or not action:
            raise CatalogError("an audit entry needs an actor and an action")
        text = json.dumps(detail or {}, sort_keys=True)

        def run() -> int:
            with self._write() as c:
                return c.execute("INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)"
                                 " RETURNING id", (self._now(), actor, action, target, text)).fetchall()[0][0]

        return await self._call(run)

    async def audit_entries(self, limit: int = 100, before_id: int | None = None, action: str | None = None,
                            target: str | None = None) -> list[AuditEntry]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("action", action), ("target", target)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        sql = "SELECT id, at, actor, action, target, detail FROM audit_log"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(max(1, min(limit, 10_000)))
        rows = await self._call(lambda: self._c.execute(sql, params).fetchall())
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]
