"""The RTSP client against real servers: the simulator (Digest, Basic, faults, UDP) and GStreamer's rtsp-server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest

from nvr.rtsp_client import RtspClient, split_credentials
from nvr.rtsp_errors import RtspProtocolError, RtspStatusError, classify
from nvr.sim.rtsp import RtspServer
from tests.gst_server import gst_rtsp_server, require_gst
from tests.helpers import closed_port, wait_for

pytestmark = pytest.mark.timeout(60)

PASSWORD = "p@ss:w/rd é"
BASIC_PASSWORD = "p@ss:w/rd"  # the simulator's Basic check compares ASCII only


@pytest.fixture
async def sim() -> AsyncIterator[RtspServer]:
    async with RtspServer(host="127.0.0.1", port=0) as server:
        server.add_camera("cam", username="admin", password=PASSWORD)
        server.add_camera("open")
        server.add_camera("basic", username="admin", password=BASIC_PASSWORD)
        yield server


class Capture:
    """A packet handler that keeps copies of the packets."""

    def __init__(self) -> None:
        self.packets: list[bytes] = []

    def __call__(self, data: bytes, view: memoryview, start: int, end: int, recv_us: int) -> None:
        self.packets.append(bytes(view[start:end]))


async def play(client: RtspClient) -> tuple[Capture, str]:
    media = await client.open()
    capture = Capture()
    await client.setup(media.video_control, capture)
    await client.play(media.play_url)
    return capture, media.play_url


async def test_digest_auth_describe_setup_play_keepalive_teardown(sim: RtspServer) -> None:
    client = RtspClient(sim.url("cam", "sub"), "admin", PASSWORD)
    media = await client.open()
    assert media.video.codec == "h264" and media.video.params is not None
    assert (media.video.params.width, media.video.params.height) == (640, 360)
    assert media.video.frame_duration == 3600 and media.audio is None
    assert media.video_control == sim.url("cam", "sub") + "/trackID=0"  # relative to Content-Base
    capture = Capture()
    await client.setup(media.video_control, capture)
    await client.play(media.play_url)
    await wait_for(lambda: len(capture.packets) > 30)
    assert all(p[0] >> 6 == 2 for p in capture.packets), "RTP version 2 on the interleaved channel"
    assert sim.active_sessions("cam") == 1 and client.session_id
    assert client._auth is not None and client._auth.scheme == "digest"
    await client.keepalive(media.play_url)
    await client.teardown(media.play_url)
    await wait_for(lambda: sim.active_sessions("cam") == 0, timeout=5)


async def test_basic_auth_when_the_camera_asks_for_it(sim: RtspServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim.authenticator, "challenge", lambda: 'Basic realm="nvr-sim"')
    client = RtspClient(sim.url("basic", "sub"), "admin", BASIC_PASSWORD)
    capture, url = await play(client)
    await wait_for(lambda: len(capture.packets) > 10)
    assert client._auth is not None and client._auth.scheme == "basic"
    await client.teardown(url)
    with pytest.raises(RtspStatusError) as refused:
        await RtspClient(sim.url("basic", "sub"), "admin", "wrong").open()
    assert refused.value.status == 401 and refused.value.state == "auth_failed"


async def test_credentials_may_come_in_the_url(sim: RtspServer) -> None:
    url = sim.url("cam", "sub").replace("rtsp://", f"rtsp://admin:{quote(PASSWORD, safe='')}@")
    assert split_credentials(url) == (sim.url("cam", "sub"), "admin", PASSWORD)
    client = RtspClient(url)
    capture, play_url = await play(client)
    await wait_for(lambda: len(capture.packets) > 10)
    assert "@" not in client.url and "@" not in play_url
    await client.teardown(play_url)


async def test_failures_are_distinct(sim: RtspServer) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts (the kernel does) and never answers
    cases = {
        "wrong password": (sim.url("cam"), "admin", "nope", "auth_failed", "401"),
        "no credentials": (sim.url("cam"), None, None, "auth_failed", "401"),
        "no such path": (sim.url("cam").replace("/cam/", "/nope/"), "admin", PASSWORD, "not_found", "404"),
        "refused": (f"rtsp://127.0.0.1:{closed_port()}/cam/main", None, None, "offline", "refused"),
        "silent": (f"rtsp://127.0.0.1:{silent.getsockname()[1]}/cam/main", None, None, "offline", "timed out"),
    }
    try:
        for name, (url, user, password, state, words) in cases.items():
            client = RtspClient(url, user, password, request_timeout=0.5)
            with pytest.raises(Exception) as failed:
                await client.open()
            client.abort()
            got, detail = classify(failed.value, opening=True)
            assert (got, words in detail) == (state, True), (name, got, detail)
            assert PASSWORD not in detail and "nope" not in detail
    finally:
        silent.close()


async def test_unauthorized_fault_and_drop_close_the_session(sim: RtspServer) -> None:
    faults = sim.faults("open")
    client = RtspClient(sim.url("open", "sub"))
    capture, _ = await play(client)
    await wait_for(lambda: len(capture.packets) > 10)
    faults.drop_after = 0.1
    reason = await asyncio.wait_for(client.closed, 5)
    assert reason is None, "a clean close by the camera"
    faults.reset()
    faults.unauthorized = True
    with pytest.raises(RtspStatusError) as refused:
        await RtspClient(sim.url("open", "sub")).open()
    assert refused.value.state == "auth_failed"


async def test_garbage_on_the_connection_is_a_protocol_error(sim: RtspServer) -> None:
    client = RtspClient(sim.url("open", "sub"))
    capture, _ = await play(client)
    await wait_for(lambda: len(capture.packets) > 10)
    sim.faults("open").garbage = True
    reason = await asyncio.wait_for(client.closed, 5)
    assert isinstance(reason, RtspProtocolError)
    assert classify(reason, opening=False) == ("error", "bad data on the connection (neither RTSP nor interleaved RTP)")
    client.abort()


async def test_read_batching_wakes_the_loop_less_and_loses_nothing(sim: RtspServer) -> None:
    client = RtspClient(sim.url("open", "sub"))
    capture, url = await play(client)
    assert client.wire is not None
    reads = []
    original = client.wire.buffer_updated
    client.wire.buffer_updated = lambda n: (reads.append(n), original(n))  # type: ignore[method-assign]
    await asyncio.sleep(1.0)
    plain = len(reads)
    client.read_batch(48 * 1024)
    reads.clear()
    await asyncio.sleep(2.0)
    batched = len(reads)
    # the first read after the switch may be one the loop had already scheduled: steady state is the rest
    assert batched * 4 < plain * 2 and min(reads[1:], default=0) >= 48 * 1024, (plain, batched, reads)
    client.read_batch(1)
    await asyncio.sleep(0.3)
    seqs = [int.from_bytes(p[2:4], "big") for p in capture.packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:], strict=False)), "every packet, in order"
    await client.teardown(url)


async def test_udp_transport(sim: RtspServer) -> None:
    client = RtspClient(sim.url("open", "sub"), transport="udp")
    capture, url = await play(client)
    await wait_for(lambda: len(capture.packets) > 30)
    assert all(p[0] >> 6 == 2 for p in capture.packets)
    await client.keepalive(url)
    await client.teardown(url)
    await wait_for(lambda: sim.active_sessions("open") == 0, timeout=5)


@pytest.mark.slow
async def test_gstreamer_digest_auth_h265_and_aac_tracks() -> None:
    require_gst()
    with gst_rtsp_server(1, width=320, height=240, fps=15, codec="h265", audio="aac", user="admin",
                         password="pw-gst") as urls:
        client = RtspClient(urls[0], "admin", "pw-gst")
        media = await client.open()
        assert media.video.codec == "hevc" and media.audio is not None
        assert media.audio.codec == "aac" and media.audio.config and media.audio.clock_rate == 16000
        assert media.audio_control and media.audio_control != media.video_control
        video, audio = Capture(), Capture()
        await client.setup(media.video_control, video)
        await client.setup(media.audio_control, audio)
        await client.play(media.play_url)
        await wait_for(lambda: len(video.packets) > 20 and len(audio.packets) > 5, timeout=15)
        await client.teardown(media.play_url)
        with pytest.raises(RtspStatusError) as refused:
            await RtspClient(urls[0], "admin", "wrong").open()
        assert refused.value.state == "auth_failed"
