"""``nvr check-storage -c CONFIG [--deep] [--repair]``: exit 0 clean, 1 on a mismatch, 2 on a usage error."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nvr.cli_check_storage import register
from nvr.storage.catalog import open_catalog
from nvr.storage.layout import partial_path
from tests.storage.media import RUN_KEY, make_store, segment_at, write_killed_part

REPO = Path(__file__).resolve().parents[1]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nvr")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["check-storage", *argv])


def run(*argv: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    args = parse(*argv)
    return args.func(args, out=lines.append), lines


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config whose storage root holds three good segments (catalog beside the root), run ended."""
    path = tmp_path / "nvr.toml"
    path.write_text('[server]\nport = 0\n[storage]\nroot = "storage"\n', encoding="utf-8")

    async def build() -> None:
        async with await open_catalog(str(tmp_path / "catalog.db")) as catalog:
            store = await make_store(catalog, tmp_path / "storage")
            await catalog.end_run(store.run.id, store.segments[-1].end_time, "shutdown")

    asyncio.run(build())
    return path


def storage(config: Path) -> Path:
    return config.parent / "storage"


def test_clean_store_exits_0(config: Path) -> None:
    code, lines = run("-c", str(config))
    assert code == 0 and lines[-1] == "clean"
    assert "3 catalog row(s), 3 segment file(s)" in lines[0]
    code, lines = run("-c", str(config), "--deep")
    assert code == 0 and "deep" in lines[0]


def test_mismatch_exits_1_and_repair_fixes_it(config: Path) -> None:
    root = storage(config)
    relpath = segment_at("cam-a", RUN_KEY, 3)[0]
    write_killed_part(root, relpath)
    partial_path(root / segment_at("cam-a", RUN_KEY, 9)[0]).write_bytes(os.urandom(3000))
    code, lines = run("-c", str(config))
    assert code == 1
    assert sum(line.startswith("PARTIAL") for line in lines) == 2 and "2 problem(s)" in lines[-1]
    code, lines = run("-c", str(config), "--repair")
    assert code == 0, lines
    assert any(line.startswith("INDEXED") and relpath in line for line in lines)
    assert any(line.startswith("QUARANTINED") for line in lines)
    assert lines[-1] == "after repair: clean"
    assert run("-c", str(config), "--deep")[0] == 0


def test_unfixable_leftover_exits_1_after_repair(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = storage(config)
    seg_path = next(root.rglob("*.mp4"))
    seg_path.unlink()
    # Make the catalog refuse to remove rows: the repair cannot finish.
    from nvr.storage.sqlite import SqliteCatalog

    async def refuse(self, ids):  # noqa: ANN001
        from nvr.errors import CatalogError

        raise CatalogError("read-only for this test")

    monkeypatch.setattr(SqliteCatalog, "delete_segments", refuse)
    code, lines = run("-c", str(config), "--repair")
    assert code == 1
    assert any(line.startswith("ERROR") for line in lines)
    assert "problem(s) remain" in "\n".join(lines)


def test_bad_config_and_missing_root_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[storage]\nrot = 1\n", encoding="utf-8")
    assert run("-c", str(bad))[0] == 2
    assert "storage.rot" in capsys.readouterr().err
    missing = tmp_path / "m.toml"
    missing.write_text('[storage]\nroot = "nowhere"\n', encoding="utf-8")
    assert run("-c", str(missing))[0] == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.fixture
def held_lock(config: Path) -> Iterator[None]:
    """Another process (standing in for a running nvr) holds the storage lock."""
    code = ("import sys, time; from pathlib import Path; from nvr.storage.lock import lock_storage\n"
            "with lock_storage(Path(sys.argv[1]), 'nvr run'):\n"
            "    print('locked', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(storage(config))], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield
    finally:
        proc.kill()
        proc.wait()


def test_running_nvr_check_ignores_work_in_progress_and_repair_refuses(
    config: Path, held_lock: None, capsys: pytest.CaptureFixture[str]
) -> None:
    write_killed_part(storage(config), segment_at("cam-a", RUN_KEY, 3)[0])  # the segment being written
    code, lines = run("-c", str(config))
    assert code == 0, lines
    assert any("nvr is running" in line for line in lines) and any(line.startswith("IN-FLIGHT") for line in lines)
    assert run("-c", str(config), "--repair")[0] == 2
    assert "stop nvr before --repair" in capsys.readouterr().err


def test_as_a_subprocess(config: Path) -> None:
    from nvr.cli import build_parser

    if "check-storage" not in build_parser().format_help():
        pytest.skip("check-storage is not wired into nvr/cli.py yet (lead: register(sub) in build_parser)")
    root = storage(config)
    write_killed_part(root, segment_at("cam-a", RUN_KEY, 3)[0])
    cmd = [sys.executable, "-m", "nvr", "check-storage", "-c", str(config)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert first.returncode == 1 and "PARTIAL" in first.stdout
    fixed = subprocess.run([*cmd, "--repair"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert fixed.returncode == 0 and "after repair: clean" in fixed.stdout
    again = subprocess.run([*cmd, "--deep"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert again.returncode == 0 and again.stdout.strip().endswith("clean")


def test_mass_missing_needs_force(config: Path) -> None:
    """25 rows whose files vanished (a disk that did not mount?) are kept unless --force says otherwise."""
    async def add_rows() -> None:
        async with await open_catalog(str(config.parent / "catalog.db")) as catalog:
            run = await catalog.insert_ended_run("cam-z", RUN_KEY, RUN_KEY, "shutdown")
            for seq in range(25):
                relpath, start, end = segment_at("cam-z", RUN_KEY, seq)
                await catalog.add_recovered_segment(
                    run_id=run.id, start_time=start, end_time=end, media_duration=180_000, path=relpath,
                    size_bytes=1, sha256="0" * 64, frames=50, keyframes=2, codec="h264")

    asyncio.run(add_rows())
    code, lines = run("-c", str(config), "--repair")
    assert code == 1 and sum(line.startswith("MISSING") for line in lines) >= 25
    assert any("rows kept" in line for line in lines)
    code, lines = run("-c", str(config), "--repair", "--force")
    assert code == 0 and lines[-1] == "after repair: clean"
