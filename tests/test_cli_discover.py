"""`nvr discover` as a user runs it, against simulated cameras on loopback."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from nvr.config import parse_config
from nvr.sim.fleet import SimFleet
from tests.helpers import free_udp_port


async def nvr(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nvr", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["multicast", "unicast"])
async def test_discover_prints_table_and_adoptable_toml(mode: str) -> None:
    async with SimFleet(3, discovery_port=free_udp_port(), password="pw-disc") as fleet:
        args = ["discover", "--port", str(fleet.discovery.port), "--timeout", "1.5", "--username", "admin",
                "--password-env", "CAM_PW"]
        args += ["--interface", "127.0.0.1"] if mode == "multicast" else ["--no-multicast", "--unicast", "127.0.0.1"]
        code, out, err = await nvr(*args, env={"CAM_PW": "pw-disc"})
    assert code == 0, err
    assert "pw-disc" not in out + err
    for cam in fleet.cameras:
        assert cam.name in out and cam.rtsp_main in out
    snippet = out[out.index("[[cameras]]"):]
    os.environ["NVR_CAMERA_PASSWORD"] = "pw-disc"
    try:
        config = parse_config(snippet).config
    finally:
        del os.environ["NVR_CAMERA_PASSWORD"]
    assert sorted(c.name for c in config.cameras) == ["cam01", "cam02", "cam03"]
    assert {c.onvif.port for c in config.cameras} == {c.onvif_port for c in fleet.cameras}


async def test_discover_refuses_to_guess_an_interface() -> None:
    code, _, err = await nvr("discover")
    assert code == 2 and "--interface" in err
    code, _, err = await nvr("discover", "--no-multicast")
    assert code == 2 and "--unicast" in err
