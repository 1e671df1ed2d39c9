"""Every fault switch of a simulated camera, shown through its observable effect on a client."""

from __future__ import annotations

import asyncio
import socket
import time
from itertools import pairwise

import av
import pytest

from nvr.sim.faults import Faults
from nvr.sim.h264 import NAL_SPS
from nvr.sim.rtsp import RtspServer

from .conftest import PASSWORD, USERNAME
from .helpers import NotInterleaved, RawRtspClient, frames_from_packets, grab_frames, rtp_header, with_credentials

pytestmark = pytest.mark.timeout(60)


def test_faults_defaults_reset_and_jump_generation() -> None:
    faults = Faults()
    assert faults.active() == {}
    faults.stall = True
    faults.timestamp_jump = 2.0
    faults.timestamp_jump = 2.0
    assert faults.jump_generation == 2, "every assignment is a new jump event"
    assert faults.active() == {"stall": True, "timestamp_jump": 2.0}
    faults.reset()
    assert faults == Faults() and faults.jump_generation == 2


@pytest.mark.slow
async def test_drop_after_ends_the_stream(rtsp_server: RtspServer) -> None:
    rtsp_server.faults("cam01").drop_after = 1.5
    grab = await asyncio.to_thread(grab_frames, with_credentials(rtsp_server.url("cam01", "main")), 500)
    assert grab.ended, "the server closed the connection"
    assert 1.2 < grab.elapsed < 4.0, grab.elapsed
    assert 25 <= len(grab.sizes) <= 45
    await asyncio.sleep(0.1)
    assert rtsp_server.active_sessions("cam01") == 0


@pytest.mark.slow
async def test_stall_stops_media_but_keeps_connection(rtsp_server: RtspServer) -> None:
    url = rtsp_server.url("cam02", "sub")
    faults = rtsp_server.faults("cam02")
    async with RawRtspClient("127.0.0.1", rtsp_server.port) as client:
        await client.play(url)
        before = frames_from_packets(await client.collect(0.5))
        assert before
        faults.stall = True
        await client.collect(0.2)  # whatever was already in flight
        stalled_at = time.monotonic()
        assert await client.collect(1.2) == [], "no RTP or RTCP while stalled"
        reply = await client.request("GET_PARAMETER", url + "/")
        assert reply.status == 200, "the connection is still open and answering"
        faults.stall = False
        after = frames_from_packets(await client.collect(1.3))
    assert after, "media resumes when the stall clears"
    assert after[0][0]["nal"] == NAL_SPS, "resumes on a keyframe with SPS/PPS"
    gap = ((after[0][0]["ts"] - before[-1][0]["ts"]) % 2**32) / 90000
    assert gap >= time.monotonic() - stalled_at - 1.5, "timestamps reflect the stalled time"


async def test_unauthorized_rejects_correct_credentials(rtsp_server: RtspServer) -> None:
    faults = rtsp_server.faults("cam01")
    faults.unauthorized = True
    async with RawRtspClient("127.0.0.1", rtsp_server.port, USERNAME, PASSWORD) as client:
        assert (await client.request("OPTIONS", rtsp_server.url("cam01"))).status == 401
        reply = await client.request("DESCRIBE", rtsp_server.url("cam01"))
        assert reply.status == 401 and "Digest" in reply.header("www-authenticate")
        with pytest.raises(av.error.HTTPUnauthorizedError):
            await asyncio.to_thread(grab_frames, with_credentials(rtsp_server.url("cam01")), 1)
        faults.unauthorized = False
        assert (await client.request("DESCRIBE", rtsp_server.url("cam01"))).status == 200


async def test_garbage_breaks_interleaved_framing(rtsp_server: RtspServer) -> None:
    async with RawRtspClient("127.0.0.1", rtsp_server.port) as client:
        await client.play(rtsp_server.url("cam02", "sub"))
        assert frames_from_packets(await client.collect(0.3)), "valid RTP before the fault"
        rtsp_server.faults("cam02").garbage = True
        with pytest.raises(NotInterleaved):
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                await client.read_packet(timeout=1)


async def test_garbage_ends_a_pyav_stream(rtsp_server: RtspServer) -> None:
    faults = rtsp_server.faults("cam02")

    async def corrupt() -> None:
        await asyncio.sleep(0.8)
        faults.garbage = True

    task = asyncio.create_task(corrupt())
    grab = await asyncio.to_thread(grab_frames, rtsp_server.url("cam02", "sub"), 150, "tcp", 3.0)
    await task
    assert grab.ended, "FFmpeg cannot parse the corrupted interleaved stream and gives up"
    assert 5 <= len(grab.sizes) < 100


async def test_garbage_over_udp_is_not_rtp(rtsp_server: RtspServer) -> None:
    rtp_sock, rtcp_sock = (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
    )
    for s in (rtp_sock, rtcp_sock):
        s.bind(("127.0.0.1", 0))
        s.settimeout(2)
    ports = f"{rtp_sock.getsockname()[1]}-{rtcp_sock.getsockname()[1]}"
    try:
        rtsp_server.faults("cam02").garbage = True
        async with RawRtspClient("127.0.0.1", rtsp_server.port) as client:
            await client.play(rtsp_server.url("cam02", "sub"), f"RTP/AVP;unicast;client_port={ports}")
            datagrams = [await asyncio.to_thread(rtp_sock.recv, 4096) for _ in range(10)]
    finally:
        rtp_sock.close()
        rtcp_sock.close()
    assert any(d[0] >> 6 != 2 for d in datagrams), "some datagrams are not RTP version 2"


@pytest.mark.slow
async def test_timestamp_jump_shows_in_decoded_pts(rtsp_server: RtspServer) -> None:
    rtsp_server.faults("cam01").timestamp_jump = 5.0  # applied once, after 1 s of streaming
    grab = await asyncio.to_thread(grab_frames, with_credentials(rtsp_server.url("cam01", "sub")), 50)
    assert not grab.ended, grab.error
    deltas = [b - a for a, b in pairwise(grab.times)]
    jumps = [d for d in deltas if d > 1.0]
    assert len(jumps) == 1 and abs(jumps[0] - 5.04) < 0.05, jumps
    assert all(abs(d - 0.04) < 0.005 for d in deltas if d <= 1.0)


@pytest.mark.slow
async def test_timestamp_jump_applies_once_per_event(rtsp_server: RtspServer) -> None:
    url = rtsp_server.url("cam02", "main")
    faults = rtsp_server.faults("cam02")
    async with RawRtspClient("127.0.0.1", rtsp_server.port) as first:
        await first.play(url)
        await asyncio.sleep(1.0)
        faults.timestamp_jump = 3.0
        stamps = [f[0]["ts"] for f in frames_from_packets(await first.collect(0.6))]
    deltas = [(b - a) % 2**32 for a, b in pairwise(stamps)]
    assert sorted(set(deltas)) == [3600, 3 * 90000 + 3600] and deltas.count(3 * 90000 + 3600) == 1
    async with RawRtspClient("127.0.0.1", rtsp_server.port) as later:  # the event was already applied
        await later.play(url)
        stamps = [f[0]["ts"] for f in frames_from_packets(await later.collect(1.4))]
    assert {(b - a) % 2**32 for a, b in pairwise(stamps)} == {3600}


@pytest.mark.slow
async def test_resolution_change_switches_at_keyframes(rtsp_server: RtspServer) -> None:
    faults = rtsp_server.faults("cam01")

    async def flip() -> None:
        await asyncio.sleep(0.8)
        faults.resolution_change = True
        await asyncio.sleep(1.5)
        faults.resolution_change = False

    flipper = asyncio.create_task(flip())
    grab = await asyncio.to_thread(grab_frames, with_credentials(rtsp_server.url("cam01", "main")), 95)
    await flipper
    assert not grab.ended, grab.error
    runs: list[tuple[tuple[int, int], int]] = []
    for size in grab.sizes:
        if runs and runs[-1][0] == size:
            runs[-1] = (size, runs[-1][1] + 1)
        else:
            runs.append((size, 1))
    assert [s for s, _ in runs] == [(1280, 720), (960, 540), (1280, 720)], runs
    assert all(n % 25 == 0 for _, n in runs[:-1]), "switches happen on 1 s keyframe boundaries"


async def test_resolution_change_sends_new_parameter_sets(rtsp_server: RtspServer) -> None:
    rtsp_server.faults("cam02").resolution_change = True
    async with RawRtspClient("127.0.0.1", rtsp_server.port) as client:
        await client.play(rtsp_server.url("cam02", "main"))
        packets = [p for p in await client.collect(0.3) if p.channel == 0]
    sps = packets[0].data[12:]
    assert sps[0] & 0x1F == NAL_SPS
    from nvr.sim.clip import load_clip

    assert sps == load_clip("alt").sps and rtp_header(packets[0].data)["version"] == 2
