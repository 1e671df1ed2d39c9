"""The frame sampler on a real RTSP stream: keyframes only at low rates, decode-and-drop above the keyframe rate."""

from __future__ import annotations

import asyncio
import threading

import pytest

from nvr.sampler import FrameSampler, SampledFrame, annexb
from nvr.sim.rtsp import RtspServer
from tests.gst_server import gst_rtsp_server, require_gst
from tests.helpers import closed_port, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
async def sim() -> RtspServer:
    server = RtspServer(host="127.0.0.1", port=0)  # default clip: 25 fps, a keyframe every second
    await server.start()
    server.add_camera("cam", username="admin", password="pw")
    try:
        yield server
    finally:
        await server.stop()


def collect(sim: RtspServer, fps: float, password: str = "pw", stream: str = "sub") -> tuple[FrameSampler, list]:
    frames: list[SampledFrame] = []
    lock = threading.Lock()

    def deliver(frame: SampledFrame) -> None:
        with lock:
            frames.append(frame)

    sampler = FrameSampler(camera="cam", url=sim.url("cam", stream), username="admin", password=password, fps=fps,
                           deliver=deliver, io_timeout_s=3)
    return sampler, frames


async def test_low_rate_decodes_keyframes_only(sim: RtspServer):
    sampler, frames = collect(sim, fps=0.5)
    sampler.start()
    try:
        await wait_for(lambda: len(frames) >= 3, timeout=15)
    finally:
        await asyncio.to_thread(sampler.stop, 5)
    st = sampler.stats
    assert st.keyframes_only and st.gop_s == pytest.approx(1.0, abs=0.05)
    # Only the sampled keyframes (plus the ones used to learn the keyframe interval) reach the decoder,
    # never the ~25 frames a second the stream carries.
    assert st.decoded <= st.sampled + 2, st
    assert st.packets > 10 * st.decoded
    gaps = [(b.time_us - a.time_us) / 1e6 for a, b in zip(frames, frames[1:], strict=False)]
    assert all(1.5 <= g <= 2.6 for g in gaps), gaps
    first = frames[0]
    assert first.rgb.shape == (360, 640, 3) and first.grey.shape == (90, 160) and first.keyframes_only


async def test_rate_above_keyframe_rate_decodes_every_frame_and_drops(sim: RtspServer):
    sampler, frames = collect(sim, fps=5)
    sampler.start()
    try:
        await wait_for(lambda: sampler.stats.gop_s is not None and len(frames) >= 15, timeout=15)
        decoded0, sampled0 = sampler.stats.decoded, sampler.stats.sampled
        await asyncio.sleep(2)
        decoded, sampled = sampler.stats.decoded - decoded0, sampler.stats.sampled - sampled0
    finally:
        await asyncio.to_thread(sampler.stop, 5)
    assert not sampler.stats.keyframes_only
    assert 40 <= decoded <= 60, decoded  # 25 fps for 2 s
    assert 8 <= sampled <= 12, sampled  # 5 fps for 2 s


async def test_main_stream_frames_are_shrunk(sim: RtspServer):
    sampler, frames = collect(sim, fps=1, stream="main")
    sampler.start()
    try:
        await wait_for(lambda: frames, timeout=15)
    finally:
        await asyncio.to_thread(sampler.stop, 5)
    assert frames[0].rgb.shape == (540, 960, 3)


async def test_wrong_password_and_closed_port_are_states_not_crashes(sim: RtspServer):
    sampler, frames = collect(sim, fps=1, password="wrong")
    sampler.start()
    try:
        await wait_for(lambda: sampler.stats.state == "auth_failed", timeout=10)
    finally:
        await asyncio.to_thread(sampler.stop, 5)
    assert "wrong" not in (sampler.stats.detail or "") and not frames
    closed = FrameSampler(camera="x", url=f"rtsp://127.0.0.1:{closed_port()}/x", username=None, password=None,
                          fps=1, deliver=lambda f: None, io_timeout_s=2)
    closed.start()
    try:
        await wait_for(lambda: closed.stats.state == "offline", timeout=10)
    finally:
        await asyncio.to_thread(closed.stop, 5)


def test_annexb_turns_length_prefixed_nal_units_into_start_codes():
    sample = (3).to_bytes(4, "big") + b"\x65\x88\x84" + (2).to_bytes(4, "big") + b"\x06\x05"
    assert annexb(sample) == b"\x00\x00\x00\x01\x65\x88\x84\x00\x00\x00\x01\x06\x05"
    assert annexb(b"") == b""


async def test_a_stalled_stream_is_reopened_and_sampling_resumes(sim: RtspServer):
    sampler, frames = collect(sim, fps=1)
    sampler._stall_s = 1.5
    sampler.start()
    try:
        await wait_for(lambda: len(frames) >= 2, timeout=15)
        sim.faults("cam").stall = True
        await wait_for(lambda: sampler.stats.state == "stalled", timeout=10)
        assert "1.5 s" in (sampler.stats.detail or "")
        sim.faults("cam").stall = False
        before = len(frames)
        await wait_for(lambda: len(frames) >= before + 2 and sampler.stats.state == "analysing", timeout=20)
    finally:
        await asyncio.to_thread(sampler.stop, 5)
    assert sampler.stats.reconnects >= 1 and sampler.stats.state == "stopped"


async def test_a_resolution_change_mid_stream_is_followed(sim: RtspServer):
    sampler, frames = collect(sim, fps=1)
    sampler.start()
    try:
        await wait_for(lambda: frames, timeout=15)
        sim.faults("cam").resolution_change = True
        # The alternate clip is 960x540 on both streams: the decoder takes the new in-band parameter sets.
        await wait_for(lambda: frames[-1].rgb.shape[:2] != frames[0].rgb.shape[:2], timeout=15)
    finally:
        await asyncio.to_thread(sampler.stop, 5)
    assert frames[-1].rgb.shape == (540, 960, 3) and sampler.stats.errors == 0


@pytest.mark.parametrize(("codec", "bframes", "transport"), [("h264", 2, "tcp"), ("h265", 0, "udp")])
async def test_gstreamer_streams_are_sampled_keyframes_only(codec: str, bframes: int, transport: str):
    """GStreamer's RTSP server: H.264 with B-frames (a decoder that reorders holds a lone keyframe back) over
    TCP, and H.265 over UDP."""
    require_gst()
    frames: list[SampledFrame] = []
    with gst_rtsp_server(1, width=320, height=240, fps=15, gop=1, codec=codec, bframes=bframes or None) as urls:
        sampler = FrameSampler(camera="gst", url=urls[0], username=None, password=None, fps=0.5,
                               transport=transport, deliver=frames.append, io_timeout_s=5)
        sampler.start()
        try:
            await wait_for(lambda: len(frames) >= 3, timeout=30)
        finally:
            await asyncio.to_thread(sampler.stop, 5)
    st = sampler.stats
    assert st.keyframes_only and st.gop_s == pytest.approx(1.0, abs=0.05), st
    assert st.decoded <= st.sampled + 2 and st.errors == 0, st
    assert frames[0].rgb.shape == (240, 320, 3)
    assert frames[-1].rgb.std() > 10  # a picture (the test pattern), not a grey frame of a failed decode
