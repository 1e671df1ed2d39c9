"""`nvr demo` (what scripts/demo runs): 4 simulated cameras listed online behind a login."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.web.test_auth import client, login

pytestmark = pytest.mark.slow


async def start_demo(folder: Path, port: int) -> tuple[asyncio.subprocess.Process, str]:
    env = {k: v for k, v in os.environ.items() if k != "NVR_ADMIN_PASSWORD"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nvr",
        "demo",
        "--dir",
        str(folder),
        "--port",
        str(port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    out = ""
    async with asyncio.timeout(90):
        while "log in as" not in out:
            line = await proc.stdout.readline()
            if not line:
                raise AssertionError(f"demo exited early:\n{out}")
            out += line.decode()
    return proc, out


async def stop(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(10):
        assert await proc.wait() == 0


async def test_demo_lists_four_recording_cameras(tmp_path: Path) -> None:
    port = free_port()
    proc, out = await start_demo(tmp_path / "var", port)
    try:
        password = re.search(r"log in as\s+admin / (\S+)", out).group(1)
        assert password == (tmp_path / "var" / "admin-password").read_text().strip()
        base = f"http://127.0.0.1:{port}/"
        assert f"Open {base}" in out
        async with client() as s:
            resp = await login(s, base, "admin", password)
            assert resp.status == 303
            cameras: list[dict] = []
            async with asyncio.timeout(30):
                while len([c for c in cameras if c["state"] == "recording"]) < 4:
                    await asyncio.sleep(0.3)
                    async with s.get(base + "api/cameras") as r:
                        cameras = (await r.json())["cameras"]
            assert [c["name"] for c in cameras] == ["cam01", "cam02", "cam03", "cam04"]
            async with s.get(base) as page:
                html = await page.text()
            assert html.count('class="state ok">recording<') == 4
    finally:
        await stop(proc)
    # Idempotent: a second start reuses the folder, the catalog and the same admin login.
    proc, out2 = await start_demo(tmp_path / "var", port)
    await stop(proc)
    assert f"admin / {password}" in out2
    assert "applying catalog migration" not in out2
