"""H.264/H.265 depacketizing with packets captured from the simulator and GStreamer: exact pictures, losses,
missing markers, aggregation packets, padding and header extensions."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from nvr.media_units import AccessUnit, VideoTrack
from nvr.parameter_sets import describe
from nvr.recorder_run import length_prefixed
from nvr.rtp_depacketize import RtpFormatError, VideoDepacketizer
from nvr.segment_writer import SegmentWriter
from nvr.sim.clip import load_clip
from nvr.sim.rtsp import RtspServer
from tests.gst_server import gst_rtsp_server, require_gst
from tests.rtp_capture import Captured, capture, feed

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def sim_packets() -> Captured:
    """2.5 s of the simulator's sub stream (640x360, 25 fps, a keyframe a second)."""
    async def run() -> Captured:
        async with RtspServer(host="127.0.0.1", port=0) as server:
            server.add_camera("cam")
            return await capture(server.url("cam", "sub"), 2.5)

    return asyncio.run(run())


def depacketize(packets: list[bytes], codec: str = "h264") -> tuple[list[AccessUnit], VideoDepacketizer]:
    units: list[AccessUnit] = []
    unpack = VideoDepacketizer(codec, units.append, 96)
    feed(unpack, packets)
    return units, unpack


def seq(packet: bytes) -> int:
    return int.from_bytes(packet[2:4], "big")


def ts(packet: bytes) -> int:
    return int.from_bytes(packet[4:8], "big")


def renumber(packets: list[bytes]) -> list[bytes]:
    """Consecutive sequence numbers from the first packet's."""
    first = seq(packets[0])
    return [p[:2] + struct.pack(">H", (first + i) & 0xFFFF) + p[4:] for i, p in enumerate(packets)]


def by_picture(packets: list[bytes]) -> list[list[int]]:
    """Indexes of the packets of each picture (same timestamp), in order."""
    groups: list[list[int]] = []
    for i, packet in enumerate(packets):
        if groups and ts(packets[groups[-1][0]]) == ts(packet):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def nal_type(packet: bytes) -> int:
    return packet[12] & 0x1F


def test_h264_pictures_match_the_clip_the_simulator_sends(sim_packets: Captured) -> None:
    clip = load_clip("sub")
    units, unpack = depacketize(sim_packets.video)
    assert len(units) >= 55 and unpack.lost_packets == unpack.dropped_units == unpack.ignored_packets == 0
    types = {1, 5, 6}
    expected = [(length_prefixed(tuple(n for n in f.nals if n[0] & 0x1F in types)), f.keyframe) for f in clip.frames]
    start = next(i for i, (data, _) in enumerate(expected) if data == units[0].data)
    assert units[0].key, "the stream starts on a keyframe"
    for i, unit in enumerate(units):
        data, key = expected[(start + i) % len(expected)]
        assert (unit.data, unit.key) == (data, key), i
        assert unit.params == ((clip.sps, clip.pps) if key else None), i
    assert {(b.ts - a.ts) & 0xFFFFFFFF for a, b in zip(units, units[1:], strict=False)} == {3600}
    assert any(nal_type(p) == 28 for p in sim_packets.video), "big pictures came as FU-A fragments"
    assert sim_packets.media.video.params is not None and sim_packets.media.video.params.nals == (clip.sps, clip.pps)


def test_a_lost_packet_drops_its_picture_and_the_rest_of_the_gop(sim_packets: Captured) -> None:
    packets = sim_packets.video
    whole, _ = depacketize(packets)
    pictures = by_picture(packets)
    keys = [i for i, unit in enumerate(whole) if unit.key]
    damaged = max(range(keys[0] + 1, keys[1]), key=lambda i: len(pictures[i]))  # a P picture of the most packets
    lose = pictures[damaged][len(pictures[damaged]) // 2]
    units, unpack = depacketize(packets[:lose] + packets[lose + 1:])
    assert [u.ts for u in units] == [u.ts for u in whole[:damaged] + whole[keys[1]:]]
    assert [u.data for u in units] == [u.data for u in whole[:damaged] + whole[keys[1]:]]
    assert (unpack.lost_packets, unpack.dropped_units) == (1, keys[1] - damaged)
    assert [u.after_loss for u in units] == [i == damaged for i in range(len(units))], "the keyframe after it says so"


def test_a_keyframe_that_lost_its_first_packet_is_dropped_too(sim_packets: Captured) -> None:
    packets = sim_packets.video
    whole, _ = depacketize(packets)
    pictures = by_picture(packets)
    keys = [i for i, unit in enumerate(whole) if unit.key]
    lose = pictures[keys[1]][0]  # the SPS of the second keyframe
    units, unpack = depacketize(packets[:lose] + packets[lose + 1:])
    kept = whole[:keys[1]] + (whole[keys[2]:] if len(keys) > 2 else [])
    assert [u.ts for u in units] == [u.ts for u in kept]
    assert unpack.lost_packets == 1 and unpack.dropped_units >= 1


def test_pictures_end_at_a_timestamp_change_when_marker_bits_are_missing(sim_packets: Captured) -> None:
    whole, _ = depacketize(sim_packets.video)
    unmarked = [p[:1] + bytes((p[1] & 0x7F,)) + p[2:] for p in sim_packets.video]
    units, _ = depacketize(unmarked)
    assert [(u.ts, u.data, u.params) for u in units] == [(u.ts, u.data, u.params) for u in whole[:-1]]


def test_parameter_sets_in_a_unit_of_their_own_go_with_the_next_picture(sim_packets: Captured) -> None:
    whole, _ = depacketize(sim_packets.video)
    marked = [p[:1] + bytes((p[1] | 0x80,)) + p[2:] if nal_type(p) == 8 else p for p in sim_packets.video]
    units, unpack = depacketize(marked)
    assert [(u.ts, u.key, u.data, u.params) for u in units] == [(u.ts, u.key, u.data, u.params) for u in whole]


def aggregate(packets: list[bytes], types: set[int], header: Callable[[bytes], bytes],
              kind: Callable[[bytes], int]) -> list[bytes]:
    """Put each run of single-NAL packets of ``types`` into one aggregation packet (STAP-A / AP)."""
    out: list[bytes] = []
    group: list[bytes] = []
    for packet in packets + [b""]:
        if packet and kind(packet) in types:
            group.append(packet)
            continue
        if group:
            payload = b"".join(struct.pack(">H", len(p) - 12) + p[12:] for p in group)
            out.append(group[0][:12] + header(group[0]) + payload)
            group = []
        if packet:
            out.append(packet)
    return renumber(out)


def test_stap_a_packets(sim_packets: Captured) -> None:
    whole, _ = depacketize(sim_packets.video)
    stap = aggregate(sim_packets.video, {7, 8}, lambda p: bytes(((p[12] & 0x60) | 24,)), nal_type)
    assert len(stap) < len(sim_packets.video)
    units, unpack = depacketize(stap)
    assert unpack.lost_packets == 0
    assert [(u.ts, u.key, u.data, u.params) for u in units] == [(u.ts, u.key, u.data, u.params) for u in whole]


def test_padding_csrc_and_header_extensions_are_skipped(sim_packets: Captured) -> None:
    whole, _ = depacketize(sim_packets.video)
    dressed = []
    for p in sim_packets.video:
        extension = struct.pack(">HH", 0xBEDE, 1) + b"\x10\xaa\x00\x00"
        padding = b"\x00\x00\x03"
        dressed.append(bytes((p[0] | 0x20 | 0x10 | 1,)) + p[1:12] + b"CSRC" + extension + p[12:] + padding)
    units, _ = depacketize(dressed)
    assert [(u.ts, u.data) for u in units] == [(u.ts, u.data) for u in whole]


def test_bytes_that_are_not_rtp_are_refused() -> None:
    unpack = VideoDepacketizer("h264", lambda u: None)
    for bad in (b"\xffGARBAGE\x00" + b"\x01" * 20, b"\x80\x60\x00"):
        with pytest.raises(RtpFormatError):
            feed(unpack, [bad])
    with pytest.raises(ValueError):
        VideoDepacketizer("mjpeg", lambda u: None)


@pytest.fixture(scope="module")
def gst_hevc() -> Captured:
    require_gst()
    with gst_rtsp_server(1, width=640, height=360, fps=15, gop=1, codec="h265") as urls:
        return asyncio.run(capture(urls[0], 2.5))


@pytest.mark.slow
def test_h265_from_gstreamer_plays_after_a_trip_through_the_muxer(gst_hevc: Captured, tmp_path: Path) -> None:
    units, unpack = depacketize(gst_hevc.video, "hevc")
    assert unpack.lost_packets == 0 and len(units) >= 30
    first = next(i for i, u in enumerate(units) if u.key)
    assert units[first].params is not None and len(units[first].params) == 3  # VPS, SPS, PPS in band
    assert any((p[12] >> 1) & 0x3F == 49 for p in gst_hevc.video), "big pictures came as FU fragments"
    params = describe("hevc", units[first].params)
    writer = SegmentWriter(tmp_path, "cam/seg.mp4", VideoTrack("hevc", 96), params)
    for i, unit in enumerate(units[first:]):
        writer.write_video(unit.data, i * 6000, 6000, unit.key)
    writer.close().result(10)
    with av.open(str(tmp_path / "cam/seg.mp4")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == len(units) - first and (frames[0].width, frames[0].height) == (640, 360)


def hevc_type(packet: bytes) -> int:
    return (packet[12] >> 1) & 0x3F


@pytest.mark.slow
def test_h265_aggregation_packets(gst_hevc: Captured) -> None:
    whole, _ = depacketize(gst_hevc.video, "hevc")
    ap = aggregate(gst_hevc.video, {32, 33, 34}, lambda p: bytes(((p[12] & 0x81) | (48 << 1), p[13])), hevc_type)
    assert len(ap) < len(gst_hevc.video)
    units, unpack = depacketize(ap, "hevc")
    assert unpack.lost_packets == 0
    assert [(u.ts, u.key, u.data, u.params) for u in units] == [(u.ts, u.key, u.data, u.params) for u in whole]
