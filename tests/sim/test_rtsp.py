"""Tests for the simulated cameras' RTSP server, over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
import time
from itertools import pairwise
from pathlib import Path

import av
import pytest

from nvr.sim.clip import ClipSpec
from nvr.sim.h264 import NAL_PPS, NAL_SPS, decode_sprop_parameter_sets, nal_type
from nvr.sim.media import StreamSettings
from nvr.sim.rtsp import RtspServer

from .conftest import PASSWORD, USERNAME
from .helpers import RawRtspClient, frames_from_packets, grab_frames, rtp_header, with_credentials

pytestmark = pytest.mark.timeout(60)

SHORT = ClipSpec(
    fps=25,
    duration=1.0,
    gop_seconds=1.0,
    sizes=(("main", 320, 180), ("sub", 160, 90), ("alt", 240, 136)),
    preset="ultrafast",
)


def _sdp_attrs(sdp: str) -> dict[str, str]:
    out = {}
    for line in sdp.splitlines():
        if line.startswith("a=") and ":" in line:
            key, _, value = line[2:].partition(":")
            out.setdefault(key, value)
    return out


def _depacketize(rtp_payloads: list[bytes]) -> bytes:
    """RFC 6184 single-NAL / FU-A payloads of one access unit -> Annex B."""
    out = b""
    for p in rtp_payloads:
        if p[0] & 0x1F == 28:
            if p[1] & 0x80:
                out += b"\x00\x00\x00\x01" + bytes([(p[0] & 0xE0) | (p[1] & 0x1F)])
            out += p[2:]
        else:
            out += b"\x00\x00\x00\x01" + p
    return out


async def test_raw_rtsp_exchange(rtsp_server: RtspServer) -> None:
    url = rtsp_server.url("cam01", "main")
    async with RawRtspClient("127.0.0.1", rtsp_server.port, USERNAME, PASSWORD) as client:
        options = await client.request("OPTIONS", url)
        assert options.status == 200
        for method in ("DESCRIBE", "SETUP", "PLAY", "GET_PARAMETER", "TEARDOWN"):
            assert method in options.header("public")

        challenge = await client.request("DESCRIBE", url, retry_auth=False)
        assert challenge.status == 401
        assert challenge.header("www-authenticate").startswith('Digest realm="nvr-sim", nonce="')

        describe = await client.request("DESCRIBE", url, {"Accept": "application/sdp"})
        assert describe.status == 200
        assert describe.header("content-type") == "application/sdp"
        assert describe.header("content-base") == url + "/"
        sdp = describe.body.decode()
        assert "m=video 0 RTP/AVP 96" in sdp and "a=rtpmap:96 H264/90000" in sdp
        assert "a=control:trackID=0" in sdp and "packetization-mode=1" in sdp

        setup = await client.request("SETUP", url + "/trackID=0", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        assert setup.status == 200
        assert "interleaved=0-1" in setup.header("transport") and "RTP/AVP/TCP" in setup.header("transport")
        session_id, _, timeout = setup.header("session").partition(";")
        assert session_id and timeout == "timeout=60"

        play = await client.request("PLAY", url + "/", {"Range": "npt=0.000-"})
        assert play.status == 200 and play.header("session").startswith(session_id)
        info = dict(kv.split("=", 1) for kv in play.header("rtp-info").split(";"))
        assert info["url"] == url + "/trackID=0"

        packets = await client.collect(1.2)
        rtp = [p for p in packets if p.channel == 0]
        rtcp = [p for p in packets if p.channel == 1]
        first = rtp_header(rtp[0].data)
        assert first["version"] == 2 and first["pt"] == 96
        assert first["seq"] == int(info["seq"]) and first["ts"] == int(info["rtptime"])
        assert rtcp and rtcp[0].data[1] == 200, "RTCP sender report on the odd channel"
        seqs = [rtp_header(p.data)["seq"] for p in rtp]
        assert all((b - a) % 65536 == 1 for a, b in pairwise(seqs)), "no gaps in sequence numbers"
        assert max(len(p.data) for p in rtp) <= 1400 + 12 + 2

        keepalive = await client.request("GET_PARAMETER", url + "/")
        assert keepalive.status == 200 and keepalive.header("session").startswith(session_id)
        teardown = await client.request("TEARDOWN", url + "/")
        assert teardown.status == 200
        await asyncio.sleep(0.1)
        client.packets.clear()
        assert [p for p in await client.collect(0.3) if p.channel == 0] == []
        assert rtsp_server.active_sessions() == 0


async def test_sdp_parameter_sets_and_rtp_payload_decode(rtsp_server: RtspServer) -> None:
    url = rtsp_server.url("cam02", "main")
    async with RawRtspClient("127.0.0.1", rtsp_server.port) as client:
        describe, _, _ = await client.play(url)
        fmtp = _sdp_attrs(describe.body.decode())["fmtp"]
        params = dict(kv.split("=", 1) for kv in fmtp.split(" ", 1)[1].split(";"))
        sps, pps = decode_sprop_parameter_sets(params["sprop-parameter-sets"])
        assert nal_type(sps) == NAL_SPS and nal_type(pps) == NAL_PPS
        assert params["profile-level-id"] == sps[1:4].hex().upper()

        packets = [p for p in await client.collect(0.5) if p.channel == 0]
    frames, current = [], []
    for p in packets:
        current.append(p.data[12:])
        if rtp_header(p.data)["marker"]:
            frames.append(current)
            current = []
    assert any(p[0] & 0x1F == 28 for f in frames for p in f), "large NAL units are FU-A fragmented"
    codec = av.CodecContext.create("h264", "r")
    decoded = []
    for frame_payloads in frames:
        decoded += codec.decode(av.Packet(_depacketize(frame_payloads)))
    assert decoded and (decoded[0].width, decoded[0].height) == (1280, 720)


@pytest.mark.parametrize(("stream", "size"), [("main", (1280, 720)), ("sub", (640, 360))])
async def test_pyav_decodes_over_tcp_with_digest(rtsp_server: RtspServer, stream: str, size: tuple[int, int]) -> None:
    url = with_credentials(rtsp_server.url("cam01", stream))
    grab = await asyncio.to_thread(grab_frames, url, 20)
    assert not grab.ended, grab.error
    assert set(grab.sizes) == {size}


async def test_pyav_decodes_over_udp(rtsp_server: RtspServer) -> None:
    grab = await asyncio.to_thread(grab_frames, with_credentials(rtsp_server.url("cam01", "sub")), 15, "udp")
    assert not grab.ended, grab.error
    assert set(grab.sizes) == {(640, 360)}


async def test_raw_udp_setup_delivers_rtp(rtsp_server: RtspServer) -> None:
    rtp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtcp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp_sock.bind(("127.0.0.1", 0))
    rtcp_sock.bind(("127.0.0.1", 0))
    rtp_sock.settimeout(3)
    rtcp_sock.settimeout(3)
    ports = f"{rtp_sock.getsockname()[1]}-{rtcp_sock.getsockname()[1]}"
    try:
        async with RawRtspClient("127.0.0.1", rtsp_server.port) as client:
            _, setup, _ = await client.play(rtsp_server.url("cam02", "sub"), f"RTP/AVP;unicast;client_port={ports}")
            transport = setup.header("transport")
            assert f"client_port={ports}" in transport and "server_port=" in transport
            data = await asyncio.to_thread(rtp_sock.recv, 2048)
            report = await asyncio.to_thread(rtcp_sock.recv, 2048)
    finally:
        rtp_sock.close()
        rtcp_sock.close()
    assert rtp_header(data)["version"] == 2 and rtp_header(data)["pt"] == 96
    assert report[1] == 200


async def test_wrong_password_is_rejected(rtsp_server: RtspServer) -> None:
    with pytest.raises(av.error.HTTPUnauthorizedError):
        await asyncio.to_thread(grab_frames, with_credentials(rtsp_server.url("cam01"), password="wrong"), 1)
    with pytest.raises(av.error.HTTPUnauthorizedError):
        await asyncio.to_thread(grab_frames, rtsp_server.url("cam01"), 1)
    async with RawRtspClient("127.0.0.1", rtsp_server.port, USERNAME, "wrong") as client:
        reply = await client.request("DESCRIBE", rtsp_server.url("cam01"))
        assert reply.status == 401 and "Digest" in reply.header("www-authenticate")


async def test_basic_auth_is_accepted(rtsp_server: RtspServer) -> None:
    import base64

    token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    bad = base64.b64encode(f"{USERNAME}:nope".encode()).decode()
    async with RawRtspClient("127.0.0.1", rtsp_server.port) as client:
        assert (
            await client.request("DESCRIBE", rtsp_server.url("cam01"), {"Authorization": f"Basic {token}"})
        ).status == 200
        assert (
            await client.request("DESCRIBE", rtsp_server.url("cam01"), {"Authorization": f"Basic {bad}"})
        ).status == 401


async def test_error_statuses(rtsp_server: RtspServer) -> None:
    async with RawRtspClient("127.0.0.1", rtsp_server.port) as client:
        assert (await client.request("DESCRIBE", f"rtsp://127.0.0.1:{rtsp_server.port}/nocam/main")).status == 404
        assert (await client.request("DESCRIBE", f"rtsp://127.0.0.1:{rtsp_server.port}/cam02/third")).status == 404
        assert (await client.request("PLAY", rtsp_server.url("cam02"), {"Session": "DEADBEEF"})).status == 454
        multicast = {"Transport": "RTP/AVP;multicast;port=5000-5001"}
        assert (await client.request("SETUP", rtsp_server.url("cam02") + "/trackID=0", multicast)).status == 461
        assert (await client.request("ANNOUNCE", rtsp_server.url("cam02"))).status == 501
        client.writer.write(b"OPTIONS * RTSP/1.0\r\n\r\n")  # no CSeq
        assert (await client._read_reply()).status == 400


def test_only_loopback_is_allowed() -> None:
    with pytest.raises(ValueError):
        RtspServer(host="0.0.0.0")


@pytest.mark.slow
async def test_real_time_pacing(rtsp_server: RtspServer) -> None:
    async with RawRtspClient("127.0.0.1", rtsp_server.port) as client:
        await client.play(rtsp_server.url("cam02", "sub"))
        started = time.monotonic()
        packets = await client.collect(2.0)
        elapsed = time.monotonic() - started
    frames = frames_from_packets(packets)
    assert abs(len(frames) - elapsed * 25) <= 3, (len(frames), elapsed)
    stamps = [f[0]["ts"] for f in frames]
    assert {(b - a) % 2**32 for a, b in pairwise(stamps)} == {3600}
    assert all(len({p["ts"] for p in f}) == 1 for f in frames), "one timestamp per access unit"
    assert all(p["marker"] == 0 for f in frames for p in f[:-1])


@pytest.mark.slow
async def test_loop_continues_timestamps_and_sequence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVR_SIM_CACHE", str(tmp_path))
    async with RtspServer(clip_spec=SHORT) as server:  # a 1 s loop
        server.add_camera("short")
        async with RawRtspClient("127.0.0.1", server.port) as client:
            await client.play(server.url("short", "main"))
            packets = await client.collect(2.6)
    frames = frames_from_packets(packets)
    assert len(frames) >= 60
    stamps = [f[0]["ts"] for f in frames]
    assert {(b - a) % 2**32 for a, b in pairwise(stamps)} == {3600}
    seqs = [p["seq"] for f in frames for p in f]
    assert all((b - a) % 65536 == 1 for a, b in pairwise(seqs))
    keyframes = [i for i, f in enumerate(frames) if f[0]["nal"] == NAL_SPS]
    assert keyframes[:3] == [0, 25, 50], "each loop restarts on an IDR with SPS/PPS in-band"


@pytest.mark.slow
@pytest.mark.serial
async def test_forty_concurrent_sessions_keep_up() -> None:
    async with RtspServer() as server:
        for i in range(20):
            server.add_camera(f"cam{i:02d}")
        clients = [RawRtspClient("127.0.0.1", server.port) for _ in range(40)]
        for c in clients:
            await c.connect()
        await asyncio.gather(
            *(c.play(server.url(f"cam{i // 2:02d}", "main" if i % 2 == 0 else "sub")) for i, c in enumerate(clients))
        )
        assert server.active_sessions() == 40
        started = time.monotonic()
        results = await asyncio.gather(*(c.collect(3.0) for c in clients))
        elapsed = time.monotonic() - started
        for c in clients:
            await c.close()
    expected = elapsed * 25
    counts = [len(frames_from_packets(r)) for r in results]
    assert min(counts) >= expected * 0.9, (counts, expected)


@pytest.mark.slow
async def test_slow_client_is_cut_off_without_stalling_others() -> None:
    settings = StreamSettings(max_backlog=64 * 1024, slow_client_timeout=1.0, send_buffer=16 * 1024)
    async with RtspServer(settings=settings) as server:
        server.add_camera("cam01")
        slow = await RawRtspClient("127.0.0.1", server.port, rcvbuf=4096).connect()
        await slow.play(server.url("cam01", "main"))
        slow.writer.transport.pause_reading()  # stop reading entirely: the kernel buffers fill up
        async with RawRtspClient("127.0.0.1", server.port) as good:
            await good.play(server.url("cam01", "main"))
            started = time.monotonic()
            packets = await good.collect(3.0)
            elapsed = time.monotonic() - started
            assert server.active_sessions("cam01") == 1, "the slow client was disconnected"
        assert len(frames_from_packets(packets)) >= elapsed * 25 * 0.9
        slow.writer.transport.resume_reading()
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            while True:  # drain what the kernel buffered, then hit EOF/reset
                await asyncio.wait_for(slow.reader.readexactly(65536), 2)
        await slow.close()


async def test_session_timeout_closes_idle_session() -> None:
    async with RtspServer(session_timeout=0.6) as server:
        server.add_camera("cam01")
        async with RawRtspClient("127.0.0.1", server.port) as client:
            await client.request("DESCRIBE", server.url("cam01"))
            setup = await client.request(
                "SETUP", server.url("cam01") + "/trackID=0", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
            )
            assert setup.header("session").endswith("timeout=1")
            data = await asyncio.wait_for(client.reader.read(), 3)  # EOF after the timeout
            assert data == b""
            assert server.get_session(client.session) is None


async def test_keepalive_prevents_timeout_and_stop_closes_sessions() -> None:
    server = RtspServer(session_timeout=0.6)
    await server.start()
    server.add_camera("cam01")
    client = await RawRtspClient("127.0.0.1", server.port).connect()
    await client.play(server.url("cam01", "sub"))
    for _ in range(4):
        await asyncio.sleep(0.3)
        assert (await client.request("GET_PARAMETER", server.url("cam01", "sub") + "/")).status == 200
    assert server.active_sessions() == 1
    await server.stop()
    assert server.active_sessions() == 0
    with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
        while True:
            await asyncio.wait_for(client.read_packet(), 2)
    await client.close()


@pytest.mark.slow
async def test_pause_and_resume(rtsp_server: RtspServer) -> None:
    url = rtsp_server.url("cam02", "sub")
    async with RawRtspClient("127.0.0.1", rtsp_server.port) as client:
        await client.play(url)
        before = frames_from_packets(await client.collect(0.5))
        assert (await client.request("PAUSE", url + "/")).status == 200
        client.packets.clear()
        assert frames_from_packets(await client.collect(0.5)) == []
        assert (await client.request("PLAY", url + "/")).status == 200
        after = frames_from_packets(await client.collect(1.3))
    assert after and after[0][0]["nal"] == NAL_SPS, "resumes on a keyframe"
    assert after[0][0]["seq"] == (before[-1][-1]["seq"] + 1) % 65536
    assert (after[0][0]["ts"] - before[-1][0]["ts"]) % 2**32 > 0.5 * 90000
