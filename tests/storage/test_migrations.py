"""The numbered migration runner: fresh, idempotent, downgrade refusal, rollback."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from nvr.errors import CatalogError
from nvr.storage.catalog import open_catalog
from nvr.storage.migrations import Migration, load_migrations, parse_migrations, plan

SHIPPED = load_migrations()
LATEST = SHIPPED[-1].version


def extra(name: str, sql: str, offset: int = 1) -> Migration:
    return Migration(LATEST + offset, name, sql)


def sqlite_rows(url: str, sql: str) -> list[tuple[object, ...]]:
    """Inspect a closed SQLite catalog directly (SQLite-only helper)."""
    with closing(sqlite3.connect(url.removeprefix("sqlite://"))) as conn:
        return conn.execute(sql).fetchall()


def test_shipped_migrations_are_numbered() -> None:
    assert SHIPPED[0].version == 1 and SHIPPED[0].name == "initial"
    assert [m.version for m in SHIPPED] == list(range(1, LATEST + 1))
    assert "CREATE TABLE segments" in SHIPPED[0].sql


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([("0001_a.sql", ""), ("0003_c.sql", "")], "missing 0002"),
        ([("0002_b.sql", "")], "missing 0001"),
        ([("0001_a.sql", ""), ("0001_b.sql", "")], "duplicate"),
        ([("1_a.sql", "")], "bad migration filename"),
        ([("0001_Has-Caps.sql", "")], "bad migration filename"),
    ],
)
def test_parse_rejects_bad_sets(files: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_migrations(files)


def test_plan() -> None:
    known = parse_migrations([("0001_a.sql", ""), ("0002_b.sql", ""), ("0003_c.sql", "")])
    assert [m.version for m in plan({}, known)] == [1, 2, 3]
    assert [m.version for m in plan({1: "a"}, known)] == [2, 3]
    assert plan({1: "a", 2: "b", 3: "c"}, known) == []
    with pytest.raises(CatalogError, match="newer than this nvr"):
        plan({1: "a", 2: "b", 3: "c", 4: "d"}, known)
    with pytest.raises(CatalogError, match="gaps"):
        plan({1: "a", 3: "c"}, known)


async def test_fresh_database_gets_all_migrations(catalog_url: str) -> None:
    async with await open_catalog(catalog_url) as cat:
        assert await cat.schema_version() == LATEST
    if catalog_url.startswith("sqlite://"):
        rows = sqlite_rows(catalog_url, "SELECT version, name FROM schema_migrations ORDER BY version")
        assert rows == [(m.version, m.name) for m in SHIPPED]


async def test_reopen_is_idempotent(catalog_url: str) -> None:
    async with await open_catalog(catalog_url) as cat:
        await cat.upsert_camera("cam")
    before = sqlite_rows(catalog_url, "SELECT * FROM schema_migrations") if catalog_url.startswith("sqlite") else None
    for _ in range(2):
        async with await open_catalog(catalog_url) as cat:
            assert await cat.schema_version() == LATEST
            assert [c.name for c in await cat.list_cameras()] == ["cam"]
    if before is not None:
        assert sqlite_rows(catalog_url, "SELECT * FROM schema_migrations") == before


async def test_newer_database_is_refused(catalog_url: str) -> None:
    future = [*SHIPPED, extra("from_the_future", "CREATE TABLE future_thing (id INTEGER PRIMARY KEY);")]
    async with await open_catalog(catalog_url, migrations=future) as cat:
        assert await cat.schema_version() == LATEST + 1
    with pytest.raises(CatalogError, match=rf"schema version {LATEST + 1} is newer than this nvr"):
        await open_catalog(catalog_url)


async def test_failing_migration_rolls_back(catalog_url: str) -> None:
    async with await open_catalog(catalog_url) as cat:
        assert await cat.schema_version() == LATEST
    broken = extra(
        "broken",
        "CREATE TABLE half_done (id INTEGER PRIMARY KEY);\n"
        "INSERT INTO meta (key, value) VALUES ('touched', 'yes');\n"
        "THIS IS NOT SQL;\n",
    )
    with pytest.raises(CatalogError, match=rf"migration {broken.version:04d}_broken failed"):
        await open_catalog(catalog_url, migrations=[*SHIPPED, broken])

    async with await open_catalog(catalog_url) as cat:
        assert await cat.schema_version() == LATEST
        assert await cat.get_meta("touched") is None
    # half_done was rolled back too: a migration creating it again succeeds.
    fixed = extra("fixed", "CREATE TABLE half_done (id INTEGER PRIMARY KEY);")
    async with await open_catalog(catalog_url, migrations=[*SHIPPED, fixed]) as cat:
        assert await cat.schema_version() == LATEST + 1


async def test_failure_keeps_earlier_migrations_of_the_same_start(catalog_url: str) -> None:
    good = extra("good", "CREATE TABLE good_one (id INTEGER PRIMARY KEY);")
    bad = extra("bad", "CREATE TABLE good_one (id INTEGER PRIMARY KEY);", offset=2)  # already exists
    with pytest.raises(CatalogError, match="_bad failed"):
        await open_catalog(catalog_url, migrations=[*SHIPPED, good, bad])
    async with await open_catalog(catalog_url, migrations=[*SHIPPED, good]) as cat:
        assert await cat.schema_version() == LATEST + 1


def test_missing_schema_folder_is_a_clear_error() -> None:
    with pytest.raises(CatalogError, match="no migrations found"):
        load_migrations("nvr.storage", "no_such_folder")
