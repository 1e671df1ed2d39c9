"""Kill -9 the server in the middle of an export; the restarted server finishes it and the bundle verifies."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nvr.storage.catalog import open_catalog
from tests.conftest import ADMIN_PASSWORD
from tests.export_media import T0, record
from tests.web.test_auth import client, csrf_of, login

REPO = Path(__file__).resolve().parents[1]
CAMERAS = ("cam-a", "cam-b", "cam-c")

pytestmark = pytest.mark.slow


def start(config: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``nvr run`` in a child process (output to a log file beside the config); return it and its URL."""
    env = dict(os.environ, NVR_ADMIN_PASSWORD=ADMIN_PASSWORD)
    log = config.with_name(f"server-{time.monotonic_ns()}.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "nvr", "run", "-c", str(config)], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(r"nvr is running at (\S+)", log.read_text(errors="replace"))
        if match:
            return proc, match.group(1)
        assert proc.poll() is None, f"server exited:\n{log.read_text(errors='replace')}"
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not start")


async def test_killed_during_an_export_and_restarted(tmp_path: Path) -> None:
    config = tmp_path / "nvr.toml"
    config.write_text('[server]\nport = 0\n[storage]\nroot = "var/storage"\n', encoding="utf-8")
    storage = tmp_path / "var" / "storage"
    async with await open_catalog(str(tmp_path / "var" / "catalog.db")) as catalog:
        for name in CAMERAS:  # 3 x 400 s of 720p: enough bytes that the export is caught half-way
            await record(catalog, storage, name, T0, count=40, seconds=10, variant="main")

    proc, url = start(config)
    try:
        async with client() as s:
            assert (await login(s, url, "admin", ADMIN_PASSWORD)).status == 303
            async with s.get(url + "exports") as page:
                token = csrf_of(await page.text())
            body = {"cameras": list(CAMERAS), "start": T0 + 3_000_000, "end": T0 + 397_000_000, "case": "K-1",
                    "reason": "restart test"}
            async with s.post(url + "api/exports", json=body, headers={"X-CSRF-Token": token}) as resp:
                assert resp.status == 202
                job = await resp.json()
            exports = tmp_path / "var" / "exports"
            deadline = time.monotonic() + 60
            while True:  # kill as soon as the bundle is being written
                parts = list(exports.glob("*.zip.part")) if exports.exists() else []
                if parts and parts[0].stat().st_size > 5_000_000:
                    break
                assert time.monotonic() < deadline, "the export never started"
                await asyncio.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    async with await open_catalog(str(tmp_path / "var" / "catalog.db")) as catalog:
        killed = await catalog.get_export_job(job["id"])
    assert killed is not None and killed.state == "running", "the kill came before the export finished"
    assert not list(exports.glob("*.zip")), "no bundle yet, only its .part"

    proc, url = start(config)
    try:
        async with client() as s:
            assert (await login(s, url, "admin", ADMIN_PASSWORD)).status == 303
            for _ in range(600):
                async with s.get(url + f"api/exports/{job['id']}") as resp:
                    done = await resp.json()
                if done["state"] in ("done", "failed"):
                    break
                await asyncio.sleep(0.1)
            assert done["state"] == "done", done
            assert done["attempts"] == 2
            async with s.get(url + "api/keys/export") as resp:
                fingerprint = (await resp.json())["fingerprint"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    bundle = Path(done["result"]["bundle"])
    result = subprocess.run([sys.executable, "-m", "nvr", "verify", str(bundle), "-c", str(config)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert fingerprint in result.stdout
    assert not list(exports.glob("*.part*")), "the .part and its checkpoint are gone"
