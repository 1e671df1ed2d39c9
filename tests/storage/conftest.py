"""Fixtures for catalog tests, parametrised over every catalog backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from nvr.clock import ManualClock
from nvr.storage.catalog import Catalog, open_catalog

# One entry per backend: name -> function(tmp_path) -> catalog URL.
# Adding PostgreSQL later is one line here, e.g.
#   "postgresql": lambda tmp_path: fresh_postgres_database_url(),
BACKENDS: dict[str, Callable[[Path], str]] = {
    "sqlite": lambda tmp_path: f"sqlite://{tmp_path / 'catalog.db'}",
}


@pytest.fixture(params=sorted(BACKENDS))
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for a fresh, empty catalog of each backend."""
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
def clock() -> ManualClock:
    """The clock the catalog stamps created/updated times with."""
    return ManualClock()


@pytest.fixture
async def catalog(catalog_url: str, clock: ManualClock) -> AsyncIterator[Catalog]:
    """An open, migrated catalog; closed after the test."""
    async with await open_catalog(catalog_url, clock=clock) as cat:
        yield cat
