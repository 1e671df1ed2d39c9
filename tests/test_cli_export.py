"""``nvr export`` and ``nvr verify`` as a user runs them: exit codes, progress, holds, nothing written on bad input."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from nvr.storage.catalog import open_catalog
from tests.export_media import T0, record

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    """A config whose default catalog (beside the storage root) holds 6 s of cam-a."""
    config = tmp_path / "nvr.toml"
    config.write_text('[storage]\nroot = "var/storage"\n[export]\nmax_range_hours = 2\n', encoding="utf-8")

    async def make() -> None:
        async with await open_catalog(str(tmp_path / "var" / "catalog.db")) as catalog:
            await record(catalog, tmp_path / "var" / "storage", "cam-a", T0, count=3)

    asyncio.run(make())
    return config


def nvr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nvr", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_export_then_verify(setup: Path, tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    result = nvr("export", "cam-a", "2024-05-01T17:00:01+07:00", "2024-05-01T10:00:05Z", "-c", str(setup),
                 "--case", "LP/B/9/2024", "--reason", "complaint 123", "--hold", "--out", str(out))
    assert result.returncode == 0, result.stderr
    bundle = Path(result.stdout.strip())
    assert bundle.parent == out and bundle.name == "1-LP_B_9_2024.zip" and bundle.is_file()
    assert "100.0%" in result.stderr and "1 clip(s), 0 gap(s)" in result.stderr
    assert "[" in result.stderr and "MB" in result.stderr, "a progress bar"
    check = nvr("verify", str(bundle), "-c", str(setup))
    assert check.returncode == 0 and "signature valid" in check.stdout, check.stderr

    async def inspect() -> None:
        async with await open_catalog(str(tmp_path / "var" / "catalog.db")) as catalog:
            [hold] = await catalog.list_holds()
            assert hold.reason == "export LP/B/9/2024" and hold.start_time == T0 + 1_000_000
            [job] = await catalog.list_export_jobs()
            assert job.state == "done" and job.created_by.startswith("cli:")
            assert [e.action for e in await catalog.audit_entries()] == ["export.done", "export.create"]

    asyncio.run(inspect())


@pytest.mark.parametrize(("args", "words"), [
    (["nope", "2024-05-01T10:00:00Z", "2024-05-01T10:00:05Z"], "cameras: no camera named 'nope'"),
    (["../cam-a", "2024-05-01T10:00:00Z", "2024-05-01T10:00:05Z"], "cameras: no camera named"),
    (["cam-a", "2024-05-01T10:00:05Z", "2024-05-01T10:00:00Z"], "end: must be after start"),
    (["cam-a", "2024-05-01T10:00:00Z", "2024-05-01T13:00:00Z"], "configured maximum of 2 h"),
    (["cam-a", "2024-05-01T11:00:00Z", "2024-05-01T11:00:05Z"], "has no footage"),
    (["cam-a", "2024-05-01T10:00:00", "2024-05-01T10:00:05Z"], "start: '2024-05-01T10:00:00' has no time zone"),
])
def test_bad_input_exits_2_and_writes_nothing(setup: Path, tmp_path: Path, args: list[str], words: str) -> None:
    result = nvr("export", *args, "-c", str(setup), "--case", "C-1", "--reason", "r")
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert not (tmp_path / "var" / "exports").exists() and not (tmp_path / "var" / "keys").exists()

    async def nothing() -> None:
        async with await open_catalog(str(tmp_path / "var" / "catalog.db")) as catalog:
            assert await catalog.list_export_jobs() == [] and await catalog.audit_entries() == []

    asyncio.run(nothing())


def test_usage_errors(setup: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = nvr("export", "cam-a", "2024-05-01T10:00:00Z", "2024-05-01T10:00:05Z", "-c", str(setup),
                 "--case", "C", "--reason", "r", "--out", str(tmp_path / "file"))
    assert result.returncode == 2 and "--out" in result.stderr
    other = tmp_path / "other.toml"
    other.write_text('[storage]\nroot = "elsewhere/storage"\n')
    result = nvr("export", "cam-a", "2024-05-01T10:00:00Z", "2024-05-01T10:00:05Z", "-c", str(other),
                 "--case", "C", "--reason", "r")
    assert result.returncode == 2 and "no catalog" in result.stderr
    assert not (tmp_path / "elsewhere").exists()
