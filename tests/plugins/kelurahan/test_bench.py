"""scripts/bench_kelurahan.py runs in its smallest mode (a benchmark, not a test: this proves it still works)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.slow


def test_bench_kelurahan_smallest_mode() -> None:
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_kelurahan.py"), "--cameras", "100",
                          "--repeat", "1", "--clip-seconds", "1", "--fps", "5"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {line.split()[0] + " " + line.split()[1]: line for line in out.stdout.splitlines()}
    assert "(0 visible)" in lines["listing 100"] and lines["listing 100"].count("(3 visible") == 2
    assert "faces 1" in lines["snapshot 640x360"] and "faces 1" in lines["snapshot 1280x720"]
    assert "(5 frames)" in lines["clip 1280x720"]
