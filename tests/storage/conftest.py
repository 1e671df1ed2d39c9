"""Fixtures for catalog tests, parametrised over every catalog backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nvr.clock import ManualClock
from nvr.storage.catalog import Catalog, open_catalog
from tests.pg import MigratedSchema, pg_schema

BACKENDS = ("postgresql", "sqlite")
"""Every catalog test runs once per backend (PostgreSQL on loopback, see tests/pg.py)."""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The catalog backend under test."""
    return str(request.param)


@pytest.fixture
def catalog_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL for a fresh, empty (not even migrated) catalog of each backend."""
    if backend == "sqlite":
        yield f"sqlite://{tmp_path / 'catalog.db'}"
        return
    with pg_schema() as url:
        yield url


@pytest.fixture(scope="session")
def pg_migrated() -> Iterator[MigratedSchema]:
    """The PostgreSQL schema the ``catalog`` fixture empties and reuses."""
    pool = MigratedSchema()
    yield pool
    pool.drop()


@pytest.fixture
def clock() -> ManualClock:
    """The clock the catalog stamps created/updated times with."""
    return ManualClock()


@pytest.fixture
async def catalog(backend: str, tmp_path: Path, clock: ManualClock,
                  pg_migrated: MigratedSchema) -> AsyncIterator[Catalog]:
    """An open, migrated, empty catalog; closed after the test."""
    if backend == "sqlite":
        url = f"sqlite://{tmp_path / 'catalog.db'}"
    else:
        url = await pg_migrated.fresh_url()
    async with await open_catalog(url, clock=clock) as cat:
        yield cat
