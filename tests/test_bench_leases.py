"""scripts/bench_leases.py runs (smallest mode) against the test PostgreSQL: it is no test, this proves it works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg import PG_URL, require_pg

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # times a rebalance


def test_bench_leases_smallest_mode(tmp_path: Path) -> None:
    require_pg()
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_leases.py"), "--url", PG_URL,
                          "--cameras", "60", "--nodes", "3", "--ttl", "2", "--interval", "0.5", "--steady", "2",
                          "--json", str(tmp_path / "r.json")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["steady"]["statements_per_s"] > 0 and sum(result["steady"]["held"].values()) == 60
    assert result["node_loss"]["all_held_again_s"] < 2 + 3 * 0.5 + 2  # TTL + a cycle or so
    assert "-" not in result["node_loss"]["after"]  # every camera held by a live node
