"""A psycopg connection that speaks like ``sqlite3.Connection``, so the SQLite catalog code runs on PostgreSQL.

The catalog's backends share their SQL: every statement goes through
``nvr.storage.dialect`` on its way in, and every psycopg error comes out as
the ``sqlite3`` exception of the same kind (``IntegrityError``, and
``OperationalError`` for what may pass: a lost connection, a lock timeout, a
serialisation failure), which is what the catalog code already handles.
``BEGIN IMMEDIATE`` (SQLite's "take the write lock now") becomes ``BEGIN``
plus a transaction-scoped advisory lock, so write transactions of every
process on this catalog run one at a time, exactly as on SQLite.
"""

from __future__ import annotations

import logging
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import adapt, pq

from nvr.errors import CatalogError
from nvr.storage.dialect import ddl_to_postgres, to_postgres

__all__ = ["PgConnection", "parse_postgres_url", "redact_url"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 60_000
"""A statement running longer than this is cancelled (and reported as "may pass")."""
LOCK_TIMEOUT_MS = 15_000
"""How long a statement waits for a row or advisory lock (SQLite's busy_timeout is 5 s)."""


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``: the only form of a catalog URL that may be logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def parse_postgres_url(url: str) -> tuple[str, str | None]:
    """Split a catalog URL into a libpq URL and nvr's own ``schema`` parameter (None: the default schema)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    if schema is not None and (not schema or not schema.replace("_", "a").isalnum() or not schema[0].isalpha()):
        raise CatalogError(f"catalog URL {redact_url(url)}: schema must be letters, digits and _, got {schema!r}")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    scheme = "postgresql"
    return urlunsplit((scheme, parts.netloc, parts.path, rest, parts.fragment)), schema


class _NumericLoader(adapt.Loader):
    """``numeric`` as SQLite would give it: an int when whole (``SUM`` of integers), else a float."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return int(text) if text.lstrip("-").isdigit() else float(text)


class _Cursor:
    """The part of ``sqlite3.Cursor`` the catalog uses: fetchone, fetchall, iteration, rowcount."""

    def __init__(self, cur: psycopg.Cursor[Any], rowcount: int | None = None):
        self._cur = cur
        self.rowcount = cur.rowcount if rowcount is None else rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cur.fetchone() if self._cur.description is not None else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cur.fetchall() if self._cur.description is not None else []

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())


def _as_sqlite_error(exc: psycopg.Error) -> sqlite3.Error:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, psycopg.IntegrityError):
        return sqlite3.IntegrityError(text)
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return sqlite3.OperationalError(text)
    return sqlite3.DatabaseError(text)


class PgConnection:
    """One PostgreSQL connection in autocommit mode, reconnecting after a loss (outside a transaction)."""

    def __init__(self, url: str, schema: str | None = None):
        self._url = url
        self.schema = schema
        self._conn: psycopg.Connection[Any] | None = None
        self.write_lock_key = 0
        self.node: str | None = None
        """The cluster node this connection records for (``SET nvr.node``, postgres_nodes.py); kept on reconnect."""
        self.functions: set[str] = set()
        """SQL functions the backend installed in PostgreSQL (twins of SQLite's Python functions)."""

    # -- connection --------------------------------------------------------

    def connect(self) -> None:
        """(Re)connect; raises ``sqlite3.OperationalError`` when the server cannot be reached."""
        self.close()
        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                   application_name="nvr")
        except psycopg.Error as exc:
            raise _as_sqlite_error(exc) from None
        conn.adapters.register_loader("numeric", _NumericLoader)
        self._conn = conn
        opts = [f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}", f"SET lock_timeout = {LOCK_TIMEOUT_MS}"]
        if self.schema:
            opts.append(f'SET search_path = "{self.schema}"')
        self._raw("; ".join(opts))
        if self.node:
            self._raw("SELECT set_config('nvr.node', %s, false)", (self.node,))
        schema = self._raw("SELECT current_schema()").fetchone()
        key = zlib.crc32(f"nvr catalog writes {self._conn.info.dbname} {schema[0] if schema else ''}".encode())
        self.write_lock_key = key

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:  # already gone
                pass

    @property
    def raw(self) -> psycopg.Connection[Any]:
        """The psycopg connection (nodes and leases use PostgreSQL features directly)."""
        if self._conn is None or self._conn.broken or self._conn.closed:
            # A transaction on a lost connection is gone with it: the statement that found it lost raised,
            # so the caller abandoned that transaction; nothing of it runs on the new connection.
            self.connect()
        assert self._conn is not None
        return self._conn

    @property
    def in_transaction(self) -> bool:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            return False  # nothing left to roll back
        return conn.info.transaction_status != pq.TransactionStatus.IDLE

    def _raw(self, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
        try:
            return self.raw.execute(sql, params)  # type: ignore[arg-type]
        except psycopg.Error as exc:
            raise _as_sqlite_error(exc) from exc

    # -- the sqlite3.Connection subset --------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        word = sql.lstrip()[:16].upper()
        if word.startswith("BEGIN"):
            # Write transactions run one at a time per catalog, as with SQLite's BEGIN IMMEDIATE.
            return _Cursor(self._raw(f"BEGIN; SELECT pg_advisory_xact_lock({self.write_lock_key})"))
        if word.startswith("PRAGMA"):
            raise sqlite3.OperationalError(f"PRAGMA is SQLite only: {sql[:60]!r}")
        return _Cursor(self._raw(to_postgres(sql), tuple(params)))

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> _Cursor:
        rows = [tuple(p) for p in seq]
        try:
            cur = self.raw.cursor()
            total = 0
            for params in rows:  # one statement each, so rowcount adds up as sqlite3's does
                cur.execute(to_postgres(sql), params)
                total += max(cur.rowcount, 0)
        except psycopg.Error as exc:
            raise _as_sqlite_error(exc) from exc
        return _Cursor(cur, total)

    def executescript(self, script: str) -> None:
        """Run a migration script (DDL translated, no parameters) in the current transaction."""
        self._raw(ddl_to_postgres(script))

    def create_function(self, name: str, narg: int, func: Callable[..., Any], **_: Any) -> None:
        """SQLite runs Python functions in SQL; here the function must have a PostgreSQL twin in ``functions``."""
        if name not in self.functions:
            raise sqlite3.OperationalError(f"no PostgreSQL version of SQL function {name!r}")
