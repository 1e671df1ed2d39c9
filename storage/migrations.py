"""Numbered schema migrations: load ``schema/NNNN_name.sql``, plan, apply in order."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final, Protocol

from nvr.errors import CatalogError

__all__ = [
    "MIGRATIONS_TABLE_SQL",
    "Migration",
    "MigrationTarget",
    "load_migrations",
    "migrate",
    "parse_migrations",
    "plan",
]

log = logging.getLogger(__name__)

_FILE_RE: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

MIGRATIONS_TABLE_SQL: Final = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at BIGINT NOT NULL)"
)
"""Portable DDL for the bookkeeping table; backends run it before anything else."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema change: ``NNNN_name.sql``."""

    version: int
    name: str
    sql: str


class MigrationTarget(Protocol):
    """What a backend provides to the runner (called on its worker thread)."""

    def ensure_migrations_table(self) -> None:
        """Create ``schema_migrations`` if missing (``MIGRATIONS_TABLE_SQL``)."""
        ...

    def applied_migrations(self) -> dict[int, str]:
        """Return ``{version: name}`` of every recorded migration."""
        ...

    def apply_migration(self, migration: Migration, applied_at_us: int) -> None:
        """Run ``migration.sql`` and record it, atomically; roll back on error."""
        ...


def parse_migrations(files: Iterable[tuple[str, str]]) -> list[Migration]:
    """Build the ordered migration list from ``(filename, sql)`` pairs.

    Filenames must match ``NNNN_name.sql`` and be numbered 1, 2, 3... with no
    gaps or duplicates; anything else is a packaging bug and raises
    ``CatalogError``.
    """
    found: dict[int, Migration] = {}
    for filename, sql in files:
        m = _FILE_RE.match(filename)
        if m is None:
            raise CatalogError(f"bad migration filename {filename!r}: expected NNNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise CatalogError(f"duplicate migration number {version:04d}: {filename!r}")
        found[version] = Migration(version, m.group(2), sql)
    ordered = [found[v] for v in sorted(found)]
    for expected, mig in enumerate(ordered, start=1):
        if mig.version != expected:
            raise CatalogError(f"migrations must be numbered from 0001 without gaps; missing {expected:04d}")
    return ordered


def load_migrations(package: str = "nvr.storage", folder: str = "schema") -> list[Migration]:
    """Read the migrations shipped as package data (``nvr/storage/schema/*.sql``)."""
    root = resources.files(package).joinpath(folder)
    files = [
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in (root.iterdir() if root.is_dir() else ())
        if entry.is_file() and entry.name.endswith(".sql")
    ]
    if not files:
        raise CatalogError(f"no migrations found in {package}/{folder}")
    return parse_migrations(files)


def plan(applied: Mapping[int, str], known: Sequence[Migration]) -> list[Migration]:
    """Return the migrations still to apply, in order.

    Raises ``CatalogError`` when the database is newer than this code (a
    downgrade) or its history is not a prefix ``1..n`` of the known list.
    """
    latest_known = known[-1].version if known else 0
    newer = sorted(v for v in applied if v > latest_known)
    if newer:
        raise CatalogError(
            f"catalog schema version {newer[-1]} is newer than this nvr understands "
            f"(latest known {latest_known}); refusing to start: upgrade nvr or restore a backup"
        )
    versions = sorted(applied)
    if versions != list(range(1, len(versions) + 1)):
        raise CatalogError(f"catalog migration history has gaps: {versions}")
    by_version = {m.version: m for m in known}
    for version, name in applied.items():
        if by_version[version].name != name:
            log.warning(
                "migration %04d is recorded as %r but shipped as %r",
                version, name, by_version[version].name,
            )
    return [m for m in known if m.version not in applied]


def migrate(target: MigrationTarget, known: Sequence[Migration], now_us: int) -> list[Migration]:
    """Bring ``target`` up to date; return the migrations that were applied.

    Each migration runs in its own transaction. If one fails, it is rolled
    back, the earlier ones stay applied, and ``CatalogError`` is raised.
    """
    target.ensure_migrations_table()
    todo = plan(target.applied_migrations(), known)
    for mig in todo:
        log.info("applying catalog migration %04d_%s", mig.version, mig.name)
        try:
            target.apply_migration(mig, now_us)
        except CatalogError:
            raise
        except Exception as exc:
            raise CatalogError(f"catalog migration {mig.version:04d}_{mig.name} failed: {exc}") from exc
    return todo
