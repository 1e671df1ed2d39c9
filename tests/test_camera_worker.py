"""Camera supervision against simulated cameras: states, ONVIF resolution, backoff, retry."""

from __future__ import annotations

import asyncio
import random

import pytest

from nvr.camera_worker import BACKOFF_CAP_S, CameraWorker, backoff_delay
from nvr.config import CameraConfig
from nvr.sim.fleet import SimFleet
from nvr.sim.rtsp import RtspServer
from tests.helpers import wait_for


@pytest.fixture
async def fleet():
    async with SimFleet(2, discovery_port=None, password="pw-1234") as fleet:
        yield fleet


def camera(**fields) -> CameraConfig:
    return CameraConfig.model_validate({"name": "cam", **fields})


async def run_worker(cfg: CameraConfig) -> tuple[CameraWorker, list[tuple[str, str]]]:
    changes: list[tuple[str, str]] = []
    worker = CameraWorker(cfg, lambda status, old: changes.append((old, status.state)), check_interval_s=0.2)
    worker.start()
    return worker, changes


async def test_online_with_stream_url(fleet) -> None:
    cam = fleet.cameras[0]
    worker, changes = await run_worker(camera(stream={"main": cam.rtsp_main, "username": "admin",
                                                      "password": "pw-1234"}))
    try:
        await wait_for(lambda: changes)
        assert changes == [("starting", "online")]
        assert worker.status.codecs == ("H264",)
    finally:
        await worker.stop()


async def test_onvif_only_camera_resolves_its_streams(fleet) -> None:
    cam = fleet.cameras[1]
    worker, changes = await run_worker(camera(onvif={"host": "127.0.0.1", "port": cam.onvif_port,
                                                     "username": "admin", "password": "pw-1234"}))
    try:
        await wait_for(lambda: changes, timeout=15)
        assert changes == [("starting", "online")], worker.status.detail
        assert worker.status.main_uri == cam.rtsp_main and worker.status.sub_uri == cam.rtsp_sub
    finally:
        await worker.stop()


async def test_wrong_onvif_password_is_auth_failed(fleet) -> None:
    cam = fleet.cameras[1]
    worker, changes = await run_worker(camera(onvif={"host": "127.0.0.1", "port": cam.onvif_port,
                                                     "username": "admin", "password": "wrong"}))
    try:
        await wait_for(lambda: changes, timeout=15)
        assert changes == [("starting", "auth_failed")]
    finally:
        await worker.stop()


async def test_camera_recovers_after_fault_is_cleared(fleet) -> None:
    cam = fleet.cameras[0]
    cam.faults.unauthorized = True
    worker, changes = await run_worker(camera(stream={"main": cam.rtsp_main}, onvif={
        "host": "127.0.0.1", "port": cam.onvif_port, "username": "admin", "password": "pw-1234"}))
    try:
        await wait_for(lambda: changes)
        assert changes[-1] == ("starting", "auth_failed")
        cam.faults.unauthorized = False
        worker.poke()  # what a UI "retry" does
        await wait_for(lambda: changes[-1][1] == "online", timeout=5)
    finally:
        await worker.stop()


async def test_disabled_camera_does_not_connect(fleet) -> None:
    worker, changes = await run_worker(camera(enabled=False, stream={"main": fleet.cameras[0].rtsp_main}))
    assert changes == [("starting", "disabled")]
    assert fleet.rtsp.active_sessions() == 0
    await worker.stop()


def test_backoff_grows_with_jitter_and_caps_at_30s() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, rng) for n in range(1, 12)]
    assert 0.5 <= delays[0] <= 1.0
    assert 1.0 <= delays[1] <= 2.0
    assert all(d <= BACKOFF_CAP_S for d in delays)
    assert delays[-1] >= BACKOFF_CAP_S / 2
    assert len({round(d, 6) for d in delays[6:]}) > 1  # jittered, not lock-step


async def test_status_stats_are_the_running_recorders_counters_then_its_last(write_config, start_server) -> None:
    """A plugin reading ``runtime.cameras.status(name).stats`` sees the counters grow while the camera records,
    and keeps the last counters once the recorder stopped."""
    async with RtspServer(host="127.0.0.1", port=0) as sim:
        sim.add_camera("cam")
        config = write_config(f'''
[[cameras]]
name = "cam"
stream = {{ main = "{sim.url('cam', 'main')}" }}
''')
        async with start_server(config) as server:
            cams = server.runtime.cameras
            status = cams.status("cam")
            await wait_for(lambda: status.stats is not None and status.stats.frames > 0, timeout=20)
            first = status.stats.frames
            await wait_for(lambda: status.stats.frames > first + 10, timeout=10)
            await wait_for(lambda: status.stats.state == "recording", timeout=10)  # the run is anchored
            assert status.stats.bytes > 0
            worker = cams.worker("cam")
            assert worker is not None
            await worker.stop()
            last = status.stats
            assert last is not None and last.frames > first + 10 and status.live is None
            await asyncio.sleep(0.3)
            assert status.stats.frames == last.frames  # a snapshot now, not a running count
