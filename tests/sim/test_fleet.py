"""A fleet of simulated cameras: streams decode, ONVIF answers, its TOML is a valid config."""

from __future__ import annotations

import asyncio

import av
import pytest

from nvr.config import parse_config
from nvr.sim.fleet import SimFleet


def first_frame(url: str) -> tuple[int, int]:
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=10) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


async def test_fleet_streams_decode_with_credentials() -> None:
    async with SimFleet(2, discovery_port=None, password="pw-fleet") as fleet:
        cam = fleet.cameras[1]
        with_auth = cam.rtsp_main.replace("rtsp://", "rtsp://admin:pw-fleet@")
        assert await asyncio.to_thread(first_frame, with_auth) == (1280, 720)
        sub = cam.rtsp_sub.replace("rtsp://", "rtsp://admin:pw-fleet@")
        assert await asyncio.to_thread(first_frame, sub) == (640, 360)
        with pytest.raises(av.error.HTTPUnauthorizedError):
            await asyncio.to_thread(first_frame, cam.rtsp_main)


async def test_fleet_toml_is_a_valid_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_PW", "pw-fleet")
    async with SimFleet(3, discovery_port=None, password="pw-fleet") as fleet:
        text = fleet.cameras_toml("SIM_PW", onvif_only={"cam03"})
    config = parse_config(text).config
    assert [c.name for c in config.cameras] == ["cam01", "cam02", "cam03"]
    assert config.cameras[2].stream is None and config.cameras[2].onvif.port == fleet.cameras[2].onvif_port
    assert config.cameras[0].rtsp_credentials() == ("admin", "pw-fleet")
    assert config.cameras[1].kelurahan == "Gambir" and config.cameras[1].location is not None


@pytest.mark.slow
async def test_nvr_sim_command_serves_and_writes_config(tmp_path) -> None:
    import os
    import signal
    import sys

    from tests.helpers import free_port, free_udp_port

    out_file = tmp_path / "cams.toml"
    env = {**os.environ, "SIMPW": "pw-cli", "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nvr",
        "sim",
        "--count",
        "2",
        "--rtsp-port",
        str(free_port()),
        "--onvif-port-base",
        str(free_port()),
        "--discovery-port",
        str(free_udp_port()),
        "--password-env",
        "SIMPW",
        "--write-config",
        str(out_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    text = ""
    try:
        async with asyncio.timeout(60):
            while "wrote " not in text:
                line = await proc.stdout.readline()
                assert line, f"nvr sim exited early:\n{text}"
                text += line.decode()
        url = next(w for w in text.split() if w.startswith("rtsp://") and w.endswith("/cam02/main"))
        size = await asyncio.to_thread(first_frame, url.replace("rtsp://", "rtsp://admin:pw-cli@"))
        assert size == (1280, 720)
    finally:
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    os.environ["NVR_SIM_PASSWORD"] = "pw-cli"
    try:
        assert [c.name for c in parse_config(out_file.read_text()).config.cameras] == ["cam01", "cam02"]
    finally:
        del os.environ["NVR_SIM_PASSWORD"]
