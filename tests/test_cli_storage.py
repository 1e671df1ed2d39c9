"""``nvr storage`` and ``nvr storage hold``: through argparse, and as a subprocess once wired into nvr.cli."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from nvr.cli_storage import register
from nvr.models import MEDIA_TIMEBASE
from nvr.storage.catalog import open_catalog

S = 1_000_000
T0 = 1_714_500_000 * S  # 2024-04-30T18:00:00Z


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="nvr")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(write_config: Callable[[str], Path], tmp_path: Path) -> Path:
    path = write_config('[[cameras]]\nname = "cam-a"\nstream.main = "rtsp://127.0.0.1/a"\n')
    (tmp_path / "storage").mkdir()

    async def seed() -> None:
        async with await open_catalog(str(tmp_path / "catalog.db")) as cat:
            await cat.upsert_camera("cam-a")
            await cat.upsert_camera("cam-b")
            run = await cat.start_run("cam-a", T0)
            for i in range(3):
                path = f"cam-a/{i}.mp4"
                await cat.add_segment(run_id=run.id, start_time=T0 + i * 60 * S, end_time=T0 + (i + 1) * 60 * S,
                                      media_duration=60 * MEDIA_TIMEBASE, path=path, size_bytes=500_000_000,
                                      sha256=hashlib.sha256(path.encode()).hexdigest(), frames=1, keyframes=1,
                                      codec="h264")

    asyncio.run(seed())
    return path


def test_usage_report(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, err = run_cli(capsys, "storage", "-c", str(config))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["camera", "segments", "GB", "oldest", "footage", "(UTC)", "newest", "footage", "(UTC)"]
    assert lines[1].split() == ["cam-a", "3", "1.50", "2024-04-30T18:00:00Z", "2024-04-30T18:03:00Z"]
    assert lines[2].split() == ["cam-b", "0", "0.00", "-", "-"]
    assert lines[3].split() == ["total", "3", "1.50"]
    assert "active holds: 0" in out
    assert "GB free of" in out and "floor" in out


def test_hold_add_list_release(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, err = run_cli(capsys, "storage", "hold", "add", "-c", str(config), "--camera", "cam-a",
                             "--from", "2024-05-01T01:00+07:00", "--to", "2024-05-01T02:00+07:00",
                             "--reason", "Lapor Warga 123", "--by", "petugas")
    assert code == 0, err
    assert out.strip() == "hold 1: cam-a 2024-04-30T18:00:00Z to 2024-04-30T19:00:00Z (Lapor Warga 123)"
    code, out, err = run_cli(capsys, "storage", "-c", str(config), "hold", "add", "--all",
                             "--from", "2024-04-30T18:00:00Z", "--to", "2024-04-30T18:30:00Z",
                             "--reason", "tawuran", "--expires", "2999-01-01T00:00:00Z")
    assert code == 0, err
    assert out.startswith("hold 2: all cameras") and "expires 2999-01-01T00:00:00Z" in out

    code, out, _ = run_cli(capsys, "storage", "hold", "list", "-c", str(config))
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert rows[0][:2] == ["id", "camera"]
    assert rows[1][:2] == ["1", "cam-a"] and "petugas" in rows[1]
    assert rows[2][:2] == ["2", "(all)"]

    code, out, _ = run_cli(capsys, "storage", "hold", "release", "-c", str(config), "1")
    assert code == 0 and out.startswith("hold 1 released at ")
    code, out, _ = run_cli(capsys, "storage", "hold", "list", "-c", str(config))
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["2"]
    code, out, _ = run_cli(capsys, "storage", "hold", "list", "--all", "-c", str(config))
    states = {line.split()[0]: line.split()[-1] for line in out.splitlines()[1:]}
    assert states == {"1": "released", "2": "active"}
    code, out, _ = run_cli(capsys, "storage", "-c", str(config))
    assert "active holds: 1" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--camera", "nope", "--from", "2024-05-01T00:00Z", "--to", "2024-05-01T01:00Z"], "unknown camera 'nope'"),
        (["--camera", "cam-a", "--from", "2024-05-01T00:00", "--to", "2024-05-01T01:00Z"], "has no time zone"),
        (["--camera", "cam-a", "--from", "yesterday", "--to", "2024-05-01T01:00Z"], "not an ISO 8601 time"),
        (["--camera", "cam-a", "--from", "2024-05-01T01:00Z", "--to", "2024-05-01T01:00Z"], "--to must be after"),
    ],
)
def test_hold_add_errors(capsys: pytest.CaptureFixture[str], config: Path, extra: list[str], message: str) -> None:
    code, out, err = run_cli(capsys, "storage", "hold", "add", "-c", str(config), "--reason", "r", *extra)
    assert code == 2 and message in err and out == ""


def test_release_unknown_hold_and_missing_config(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, _, err = run_cli(capsys, "storage", "hold", "release", "-c", str(config), "99")
    assert code == 2 and "unknown hold 99" in err
    code, _, err = run_cli(capsys, "storage", "hold", "list")
    assert code == 2 and "-c CONFIG" in err
    code, _, err = run_cli(capsys, "storage", "-c", str(config.parent / "missing.toml"))
    assert code == 2 and "cannot read config" in err


def test_camera_or_all_is_required(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    with pytest.raises(SystemExit):
        run_cli(capsys, "storage", "hold", "add", "-c", str(config), "--from", "2024-05-01T00:00Z",
                "--to", "2024-05-01T01:00Z", "--reason", "r")
    with pytest.raises(SystemExit):
        run_cli(capsys, "storage", "hold", "add", "-c", str(config), "--camera", "cam-a", "--all",
                "--from", "2024-05-01T00:00Z", "--to", "2024-05-01T01:00Z", "--reason", "r")


def _wired() -> bool:
    from nvr.cli import build_parser

    try:
        build_parser().parse_args(["storage", "-c", "x"])
    except SystemExit:
        return False
    return True


@pytest.mark.skipif(not _wired(), reason="nvr.cli does not call nvr.cli_storage.register yet")
def test_subprocess(config: Path) -> None:
    base = [sys.executable, "-m", "nvr", "storage"]
    done = subprocess.run([*base, "hold", "add", "-c", str(config), "--camera", "cam-a", "--from",
                           "2024-04-30T18:00Z", "--to", "2024-04-30T18:01Z", "--reason", "evidence"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([*base, "-c", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "cam-a" in done.stdout and "active holds: 1" in done.stdout
    done = subprocess.run([*base, "hold", "release", "-c", str(config), "42"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "unknown hold 42" in done.stderr
