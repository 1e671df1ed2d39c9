"""The benchmarks run (smallest mode): they are not tests, this only proves the scripts still work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run_script(name: str, args: list[str], tmp_path: Path, timeout: float) -> str:
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    env.setdefault("NVR_SIM_CACHE", str(REPO / ".cache" / "sim"))
    out = subprocess.run([sys.executable, str(REPO / "scripts" / name), *args], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{name} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert not any((tmp_path / "tmp").iterdir()), f"{name} left files in its temporary folder"
    return out.stdout


def test_bench_recording_smallest_mode(tmp_path: Path) -> None:
    recorders = "both" if shutil.which("ffmpeg") else "nvr"  # ffmpeg is the baseline, not a test dependency
    out = run_script("bench_recording.py", ["--cameras", "2", "--duration", "6", "--warmup", "2",
                                            "--segment-seconds", "10", "--source", "sim", "--recorder", recorders],
                     tmp_path, timeout=120)
    rows = [line.split() for line in out.splitlines() if line.startswith("sim ")]
    assert {r[1] for r in rows} == ({"nvr", "ffmpeg"} if recorders == "both" else {"nvr"}), out
    for row in rows:
        assert row[2] == "2" and row[3] != "FAILED", out
        recorded = int(row[6].split("/")[0])
        assert recorded > 0, out


def test_bench_catalog_smallest_mode(tmp_path: Path) -> None:
    out = run_script("bench_catalog.py", ["--cameras", "100", "--segments", "20000", "--queries", "50",
                                          "--retention-deletes", "2000", "--recovery-files", "2000",
                                          "--cache-dir", str(tmp_path / "cache")], tmp_path, timeout=120)
    assert "segments(camera, 1 h window) p99" in out
    assert "retention sweep planning" in out
    assert "open_catalog + recover()" in out
    assert "verdict:" in out
    assert list((tmp_path / "cache").glob("catalog-100cam-20000seg-*.db")), "the built catalog is cached"


def test_bench_analysis_smallest_mode(tmp_path: Path) -> None:
    out = run_script("bench_analysis.py", ["--cameras", "2", "--duration", "6", "--quick"], tmp_path, timeout=150)
    assert "FAILED" not in out, out
    for mode in ("| keyframes | 2 |", "| decode-all | 2 |", "| recording + analysis | 2 |"):
        assert mode in out, out
    row = next(line for line in out.splitlines() if line.startswith("| recording + analysis | 2 |")).split("|")
    analysed, segments = int(row[7].split("/")[0]), int(row[12])
    assert analysed > 0 and segments > 0, out
    assert "latency p99 ms" in out and "verdict:" in out and "cameras per core" in out, out


def test_bench_export_smallest_mode(tmp_path: Path) -> None:
    args = ["--minutes", "2", "--width", "320", "--height", "180", "--bitrate", "200000",
            "--repeat", "1", "--ttfb-samples", "2", "--cache-dir", str(tmp_path / "cache")]
    out = run_script("bench_export.py", args, tmp_path, timeout=180)
    assert "nvr export (signed bundle" in out and "nvr clip only" in out and "time to first byte" in out
    assert "bundle verified: 1800 frames, 120.0 s (range 120 s)" in out
    assert "verdict:" in out
    assert list((tmp_path / "cache").glob("export-2min-320x180-*")), "the footage is cached"


def test_bench_lpr_smallest_mode(tmp_path: Path) -> None:
    out = run_script("bench_lpr.py", ["--quick"], tmp_path, timeout=180)
    assert "| 24 px | day | h264 | 2 |" in out, out
    row = next(line for line in out.splitlines() if line.startswith("| 24 px | 2 |")).split("|")
    assert row[3].strip().endswith("%") and row[4].strip().endswith("%"), out  # with and without voting
    assert "recognition per read: median" in out and "verdict:" in out, out


def test_bench_web_smallest_mode(tmp_path: Path) -> None:
    out = run_script("bench_web.py", ["--quick"], tmp_path, timeout=180)
    for page in ("| page 1 | `/` | 5 |", "| filtered |", "| page 3 | `/?page=3` | 5 |"):
        assert page in out, out
    row = next(line for line in out.splitlines() if line.startswith("| page 1 | `/` |")).split("|")
    assert row[9].strip() == "48", out  # a full first page of tiles
    for endpoint in ("| `/api/events?limit=50` |", "| `/api/cameras` |"):
        assert sum(line.startswith(endpoint) for line in out.splitlines()) == 2, out  # fixed rate + capacity
    live = {line.split("|")[1].strip(): line.split("|") for line in out.splitlines()
            if line.startswith("| ") and line.split("|")[1].strip() in ("0", "1", "3")}
    assert set(live) == {"0", "1", "3"}, out
    assert live["3"][8].strip() == "yes", out  # every viewer received the stream continuously
    assert "time from the request to the first fragment" in out.lower() and "verdict:" in out, out
