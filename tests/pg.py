"""A fresh PostgreSQL schema per test on the loopback server that scripts/pg_test_db prepares."""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

PG_URL = os.environ.get("NVR_TEST_PG_URL", "postgresql://nvr_test:nvr_test@127.0.0.1:5432/nvr_test")
"""The database the tests use (``scripts/pg_test_db`` creates it); each test gets its own schema in it."""

_reachable: bool | None = None
_swept = False
STALE_S = 2 * 3600
"""Schemas left by a test process that was killed are dropped by a later one after this long."""
_NAME = re.compile(r"^[a-z]+_(\d{10})_[0-9a-f]{12}$")


def schema_name(prefix: str) -> str:
    """``prefix_<unix time>_<random>``: unique, and old enough ones can be told from live ones."""
    global _swept
    if not _swept:
        _swept = True
        _sweep()
    return f"{prefix}_{int(time.time())}_{secrets.token_hex(6)}"


def _sweep() -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for (name,) in conn.execute("SELECT nspname FROM pg_namespace").fetchall():
            m = _NAME.match(name)
            if m and int(m.group(1)) < time.time() - STALE_S:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def pg_available() -> bool:
    """Can the test database be reached? Without it PostgreSQL tests skip, unless NVR_REQUIRE_PG=1."""
    global _reachable
    if _reachable is None:
        import psycopg

        try:
            psycopg.connect(PG_URL, connect_timeout=3).close()
            _reachable = True
        except psycopg.Error:
            _reachable = False
    return _reachable


def require_pg() -> None:
    """Skip (or fail, where NVR_REQUIRE_PG=1 as in scripts/test) when PostgreSQL is not there."""
    if pg_available():
        return
    message = f"PostgreSQL not reachable at {PG_URL.split('@')[-1]} (run scripts/pg_test_db)"
    if os.environ.get("NVR_REQUIRE_PG") == "1":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def pg_schema(prefix: str = "t") -> Iterator[str]:
    """Create an empty schema, yield a catalog URL that uses it, drop it afterwards."""
    import psycopg

    require_pg()
    name = schema_name(prefix)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield f"{PG_URL}?schema={name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


class MigratedSchema:
    """One migrated schema reused by many tests: emptied (``TRUNCATE``) before each, dropped at the end.

    Migrating a fresh schema costs about half a second of DDL; emptying one costs milliseconds.
    Tests that exercise migrations themselves take a fresh schema (``pg_schema``) instead.
    """

    def __init__(self) -> None:
        self.url: str | None = None
        self._name: str | None = None

    async def fresh_url(self) -> str:
        """A URL of the shared schema with every table empty and every id sequence restarted."""
        import psycopg

        from nvr.storage.catalog import open_catalog

        require_pg()
        if self.url is None:
            name = schema_name("pool")
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{name}"')
            self._name, self.url = name, f"{PG_URL}?schema={name}"
            await (await open_catalog(self.url)).close()
            return self.url
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(self._empty_sql(conn))
        return self.url

    def _empty_sql(self, conn: Any) -> str:
        """DELETE every row, referencing tables first (cheaper than TRUNCATE's new files), and restart ids."""
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename <> 'schema_migrations'",
            (self._name,))]
        refs: dict[str, set[str]] = {t: set() for t in tables}
        for child, parent in conn.execute(
                "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c"
                " WHERE c.contype = 'f' AND c.connamespace = %s::regnamespace", (self._name,)):
            child, parent = child.split(".")[-1].strip('"'), parent.split(".")[-1].strip('"')
            if child != parent and parent in refs:
                refs[parent].add(child)
        order: list[str] = []
        while refs:  # a table goes once nothing left refers to it
            ready = sorted(t for t, children in refs.items() if not children - set(order))
            order += ready
            for t in ready:
                del refs[t]
        seqs = [r[0] for r in conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = %s", (self._name,))]
        stmts = [f'DELETE FROM "{self._name}"."{t}"' for t in order]
        stmts += [f"""SELECT setval('"{self._name}"."{q}"', 1, false)""" for q in seqs]
        return "BEGIN; " + "; ".join(stmts) + "; COMMIT"

    def drop(self) -> None:
        if self._name is None:
            return
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self._name}" CASCADE')
