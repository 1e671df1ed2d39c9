"""PostgreSQL catalog backend: the SQLite backend's code and SQL on a psycopg connection (see dialect.py)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from nvr.clock import Clock
from nvr.errors import CatalogError
from nvr.models import CameraUsage, Run, SegmentSpan
from nvr.storage.catalog import Catalog
from nvr.storage.migrations import Migration, load_migrations, migrate
from nvr.storage.postgres_conn import PgConnection, parse_postgres_url, redact_url
from nvr.storage.postgres_functions import FUNCTIONS
from nvr.storage.postgres_nodes import NODE_TRIGGERS, NOW_US_SQL
from nvr.storage.sqlite import _RUN, SqliteCatalog

__all__ = ["PostgresCatalog"]

log = logging.getLogger(__name__)

NODES_MIGRATION = 10
"""Migration that adds the node columns the triggers of postgres_nodes.py stamp."""
MIGRATION_LOCK = 0x6E7672_0001
"""Session advisory lock held while migrating (plus the catalog's write-lock key, so one per schema): nodes
starting together migrate one after another."""


class PostgresCatalog(SqliteCatalog):
    """Catalog in a PostgreSQL database (one schema of it); all SQL runs on one worker thread.

    Everything but connecting, migrating and closing is inherited from
    ``SqliteCatalog``: its statements are translated on the way in
    (``nvr.storage.dialect``) and errors come back as the ``sqlite3`` errors
    that code already handles. Several processes (nodes) may share one
    catalog: write transactions take one advisory lock, so they run one at a
    time as they do on SQLite.
    """

    def __init__(self, url: str, clock: Clock) -> None:
        """Prefer ``PostgresCatalog.open`` (or ``open_catalog``), which also connects."""
        super().__init__(redact_url(url), clock)
        self._pg_url, self.schema = parse_postgres_url(url)
        self.node: str | None = None
        """The cluster node this catalog records for (``set_node``); None: a single server."""

    @property
    def connection(self) -> PgConnection:
        """The sqlite3-like connection (worker thread only)."""
        return self._c  # type: ignore[return-value]

    def _open_sync(self, migrations: Sequence[Migration] | None) -> None:
        conn = PgConnection(self._pg_url, self.schema)
        self._conn = conn  # type: ignore[assignment]
        conn.connect()
        raw = conn.raw
        migration_lock = MIGRATION_LOCK + conn.write_lock_key
        raw.execute("SELECT pg_advisory_lock(%s)", (migration_lock,))
        try:
            applied = migrate(self, load_migrations() if migrations is None else migrations, self._now())
            if applied:
                self._sync_identities()  # setval is not transactional: once after all migrations is as good
            if self._schema_version() >= NODES_MIGRATION:
                self._install_triggers()
            for name, ddl in FUNCTIONS.items():
                if raw.execute("SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                               " WHERE p.proname = %s AND n.nspname = current_schema()", (name,)).fetchone() is None:
                    raw.execute(ddl)
                conn.functions.add(name)
        finally:
            raw.execute("SELECT pg_advisory_unlock(%s)", (migration_lock,))
        log.info("catalog %s open (schema version %d, %d migration(s) applied now)",
                 self.database, self._schema_version(), len(applied))

    def _close_sync(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def apply_migration(self, migration: Migration, applied_at_us: int) -> None:
        """Run one translated migration and record it, atomically."""
        c: Any = self._c
        try:
            c.execute("BEGIN")
            c.executescript(migration.sql)
            c.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                      (migration.version, migration.name, applied_at_us))
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise

    def _sync_identities(self) -> None:
        """After rows were copied with their ids (a table rebuild), new ids must start past them."""
        raw = self.connection.raw
        cols = raw.execute("SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
                           " WHERE c.relnamespace = current_schema()::regnamespace AND a.attidentity <> ''"
                           " AND c.relkind = 'r'").fetchall()
        for table, column in cols:
            raw.execute(
                f'SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX("{column}"), 0) + 1, false)'
                f' FROM "{table}"', (f'"{table}"', column))

    def _install_triggers(self) -> None:
        """(Re)create the node triggers unless the ones in place are these (a hash in the function's comment)."""
        raw = self.connection.raw
        digest = hashlib.sha256("\n".join(NODE_TRIGGERS).encode()).hexdigest()[:16]
        row = raw.execute("SELECT obj_description(p.oid, 'pg_proc') FROM pg_proc p"
                          " WHERE p.proname = 'nvr_segments_node' AND p.pronamespace = current_schema()::regnamespace"
                          ).fetchone()
        if row is not None and row[0] == digest:
            return
        with raw.transaction():
            for ddl in NODE_TRIGGERS:
                raw.execute(ddl)
            raw.execute(f"COMMENT ON FUNCTION nvr_segments_node() IS '{digest}'")

    # -- cluster node ------------------------------------------------------------

    async def set_node(self, name: str) -> None:
        """Record for cluster node ``name`` from now on: runs and segments get stamped and fenced, start-up
        recovery sees only this node's rows and keeps its own clean-shutdown marker (docs/design/scale-out.md)."""
        if not name:
            raise CatalogError("node name must not be empty")
        self.node = name
        self.GENERATION_KEY = f"{Catalog.GENERATION_KEY}@{name}"
        self.CLEAN_SHUTDOWN_KEY = f"{Catalog.CLEAN_SHUTDOWN_KEY}@{name}"

        def apply() -> None:
            self.connection.node = name
            self.connection.raw.execute("SELECT set_config('nvr.node', %s, false)", (name,))

        await self._call(apply)

    def _catalog_now_us(self) -> int:
        """The PostgreSQL server's clock, which heartbeats and lease expiries are stamped with."""
        return int(self.connection.raw.execute(f"SELECT {NOW_US_SQL}").fetchone()[0])

    def _segment_files(self, after_path: str, limit: int) -> list[tuple[int, str, int, str, str]]:
        if self.node is None:
            return super()._segment_files(after_path, limit)
        sql = ("SELECT id, path, size_bytes, sha256, state FROM segments WHERE path > ? AND node = ?"
               " ORDER BY path LIMIT ?")
        return self._c.execute(sql, (after_path, self.node, limit)).fetchall()

    def _segment_files_in(self, ranges: list[tuple[str, str]]) -> list[tuple[int, str, int, str, str]]:
        if self.node is None:
            return super()._segment_files_in(ranges)
        sql = ("SELECT id, path, size_bytes, sha256, state FROM segments WHERE path > ? AND path < ? AND node = ?"
               " ORDER BY path")
        out: list[tuple[int, str, int, str, str]] = []
        for low, high in ranges:
            out += self._c.execute(sql, (low, high, self.node)).fetchall()
        return out

    async def open_runs(self) -> list[Run]:
        if self.node is None:
            return await super().open_runs()
        sql = f"SELECT {_RUN} FROM runs WHERE ended_at IS NULL AND node = ? ORDER BY id"
        return await self._call(self._all, sql, (self.node,), Run)

    def _end_open_runs(self, reason: str) -> list[tuple[int, int, int]]:
        if self.node is None:
            return super()._end_open_runs(reason)
        with self._write() as c:  # as SqliteCatalog's, for this node's runs only (the others are still recording)
            rows = c.execute(
                "SELECT r.id, r.camera_id, max(r.started_at, coalesce((SELECT s.end_time FROM segments s"
                " WHERE s.run_id = r.id ORDER BY s.seq DESC LIMIT 1), r.started_at))"
                " FROM runs r WHERE r.ended_at IS NULL AND r.node = ? ORDER BY r.id", (self.node,)).fetchall()
            c.executemany("UPDATE runs SET ended_at = ?, reason_ended = ? WHERE id = ?",
                          [(ended, reason, run_id) for run_id, _, ended in rows])
        return [tuple(r) for r in rows]

    def _spans(self, sql: str, params: Sequence[Any]) -> list[SegmentSpan]:
        """Retention's reads (``segments_before``, ``oldest_segments``): on a node, only its own segments, so
        its size caps and free-space floor delete footage from its own disk (others' rows it may not touch)."""
        if self.node is None:
            return super()._spans(sql, params)
        marker = "state = 'ok'"
        at = sql.find(marker)
        if at < 0:
            raise CatalogError("retention query without the state filter the node filter extends")
        before = sql[:at].count("?")
        sql = f"{sql[:at + len(marker)]} AND node = ?{sql[at + len(marker):]}"
        return super()._spans(sql, (*params[:before], self.node, *params[before:]))

    _USAGE = ("SELECT camera_id, COUNT(*) AS n, SUM(size_bytes) AS b, MIN(start_time) AS oldest,"
              " MAX(end_time) AS newest FROM segments WHERE state = 'ok' AND node = ?")

    async def usage_by_camera(self) -> list[CameraUsage]:
        """On a node: the footage on its own disk (what its size caps and `nvr storage` are about)."""
        if self.node is None:
            return await super().usage_by_camera()
        sql = ("SELECT c.id, c.name, COALESCE(u.n, 0), COALESCE(u.b, 0), u.oldest, u.newest FROM cameras c"
               f" LEFT JOIN ({self._USAGE} GROUP BY camera_id) u ON u.camera_id = c.id ORDER BY c.name")
        return await self._call(self._all, sql, (self.node,), CameraUsage)

    def _usage_since(self, after_id: int) -> tuple[list[CameraUsage], int]:
        if self.node is None:
            return super()._usage_since(after_id)
        rows = self._all(f"SELECT u.camera_id, c.name, u.n, u.b, u.oldest, u.newest FROM ({self._USAGE} AND id > ?"
                         " GROUP BY camera_id) u JOIN cameras c ON c.id = u.camera_id ORDER BY c.name",
                         (self.node, after_id), CameraUsage)
        top = self._c.execute("SELECT MAX(id) FROM segments").fetchone()[0]
        return rows, int(top or 0)
