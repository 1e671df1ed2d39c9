"""What only the PostgreSQL backend has to get right: shared use by several processes, lost connections,
secrets in URLs, and SQL functions that SQLite runs in Python."""

from __future__ import annotations

import asyncio
import logging
import random

import psycopg
import pytest

from nvr.errors import CatalogError, CatalogUnavailable
from nvr.plate_text import plate_distance
from nvr.storage.catalog import Catalog, open_catalog
from nvr.storage.postgres_conn import redact_url
from tests.pg import PG_URL, pg_schema, require_pg

pytestmark = pytest.mark.usefixtures("_pg")


@pytest.fixture
def _pg() -> None:
    require_pg()


@pytest.fixture
async def pg_catalog(pg_migrated) -> Catalog:  # noqa: ANN001 - conftest's MigratedSchema
    async with await open_catalog(await pg_migrated.fresh_url()) as cat:
        yield cat


def test_redact_url() -> None:
    assert redact_url("postgresql://nvr:s3cret@127.0.0.1:5432/db?schema=x") == (
        "postgresql://nvr:***@127.0.0.1:5432/db?schema=x")
    assert redact_url("postgresql://nvr@[::1]/db") == "postgresql://nvr@[::1]/db"


async def test_password_is_never_logged_nor_in_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pg_schema() as url:
        secret_url = url.replace("nvr_test:nvr_test@", "nvr_test:Sup3r-s3cret@")
        async with await open_catalog(secret_url) as cat:
            assert type(cat).__name__ == "PostgresCatalog"
    with pytest.raises(CatalogUnavailable) as err:
        await open_catalog("postgresql://nvr:Sup3r-s3cret@127.0.0.1:1/db")
    assert "Sup3r-s3cret" not in str(err.value)
    assert "Sup3r-s3cret" not in caplog.text
    assert "nvr_test:***@127.0.0.1" in caplog.text  # the open is logged, redacted


async def test_lost_connection_is_unavailable_once_then_reconnects(pg_catalog: Catalog) -> None:
    await pg_catalog.upsert_camera("cam-a")
    pid = await pg_catalog.run_in_worker(lambda c: c.raw.info.backend_pid)
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(CatalogUnavailable):
        await pg_catalog.list_cameras()
    assert [c.name for c in await pg_catalog.list_cameras()] == ["cam-a"]


async def test_two_processes_race_for_one_open_run(pg_migrated) -> None:  # noqa: ANN001
    """Two catalogs on one database (two nodes): write transactions serialise; exactly one run opens."""
    url = await pg_migrated.fresh_url()
    async with await open_catalog(url) as a, await open_catalog(url) as b:
        await a.upsert_camera("cam-a")
        results = await asyncio.gather(*(cat.start_run("cam-a", 1_000 + i) for i, cat in enumerate((a, b) * 3)),
                                       return_exceptions=True)
        runs = [r for r in results if not isinstance(r, BaseException)]
        assert len(runs) == 1, results
        assert all(isinstance(r, CatalogError) for r in results if isinstance(r, BaseException))
        assert [r.id for r in await b.open_runs()] == [runs[0].id]


async def test_nodes_starting_together_migrate_once() -> None:
    with pg_schema() as url:
        cats = await asyncio.gather(*(open_catalog(url) for _ in range(3)))
        try:
            versions = {await c.schema_version() for c in cats}
            with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
                schema = url.rsplit("=", 1)[1]
                rows = conn.execute(f'SELECT count(*), count(DISTINCT version) FROM "{schema}".schema_migrations')
                total, distinct = rows.fetchone()
        finally:
            for c in cats:
                await c.close()
    assert len(versions) == 1 and total == distinct == versions.pop()


async def test_text_compares_in_byte_order_like_sqlite(pg_catalog: Catalog) -> None:
    names = ["b", "B", "_x", "a-1", "a_1", "a1", "Zz", "é"]
    for name in names:
        await pg_catalog.upsert_camera(name)
    assert [c.name for c in await pg_catalog.list_cameras()] == sorted(names, key=lambda n: n.encode())


async def test_plate_distance_function_matches_python(pg_catalog: Catalog) -> None:
    rng = random.Random(7)
    alphabet = "B8O0I1S5Z2DQG6A4T7LJUEFPRXY"
    pairs = [("B1234XYZ", "B1234XYZ"), ("", "AB"), ("AB", ""), ("B1234XYZ", "8I234XY2")]
    pairs += [("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))),
               "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9)))) for _ in range(60)]

    def in_sql(c) -> list[float]:  # noqa: ANN001 - the worker's connection
        return [c.execute("SELECT nvr_plate_distance(?, ?)", p).fetchone()[0] for p in pairs]

    got = await pg_catalog.run_in_worker(in_sql)
    assert got == pytest.approx([plate_distance(a, b) for a, b in pairs])


async def test_connection_lost_inside_a_write_transaction_recovers(pg_catalog: Catalog) -> None:
    """A write that finds the connection gone fails as 'may pass'; the next one reconnects and succeeds."""
    await pg_catalog.upsert_camera("cam-a")

    def begin_then_lose(c) -> int:  # noqa: ANN001 - the worker's connection
        c.execute("BEGIN")
        c.execute("UPDATE cameras SET kecamatan = 'x' WHERE name = ?", ("cam-a",))
        return c.raw.info.backend_pid

    pid = await pg_catalog.run_in_worker(begin_then_lose)
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(CatalogUnavailable):
        await pg_catalog.upsert_camera("cam-b")
    await pg_catalog.upsert_camera("cam-b")
    cams = {c.name: c.kecamatan for c in await pg_catalog.list_cameras()}
    assert cams == {"cam-a": None, "cam-b": None}  # the lost transaction left nothing behind
