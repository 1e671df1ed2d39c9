"""AAC (RFC 3640) and G.711 depacketizing with packets captured from GStreamer, decoded back with PyAV."""

from __future__ import annotations

import asyncio
import struct

import av
import numpy as np
import pytest

from nvr.media_units import AudioTrack, AudioUnit
from nvr.rtp_audio import AudioDepacketizer
from nvr.rtp_depacketize import RtpFormatError
from tests.gst_server import gst_rtsp_server, require_gst
from tests.rtp_capture import Captured, capture, feed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def gst_audio() -> dict[str, Captured]:
    """2.5 s of each audio kind (a 440 Hz tone) from GStreamer's rtsp-server."""
    require_gst()

    async def run(url: str) -> Captured:
        return await capture(url, 2.5)

    out = {}
    for kind in ("aac", "pcma", "pcmu"):
        with gst_rtsp_server(1, width=160, height=120, fps=5, audio=kind) as urls:
            out[kind] = asyncio.run(run(urls[0]))
    return out


def depacketize(track: AudioTrack, packets: list[bytes]) -> tuple[list[AudioUnit], AudioDepacketizer]:
    units: list[AudioUnit] = []
    unpack = AudioDepacketizer(track, units.append)
    feed(unpack, packets)
    return units, unpack


def decode(codec: str, units: list[AudioUnit], extradata: bytes = b"") -> tuple[np.ndarray, int]:
    context = av.CodecContext.create(codec, "r")
    if extradata:
        context.extradata = extradata
    if codec.startswith("pcm"):
        context.sample_rate, context.layout = 8000, "mono"
    pcm = [frame.to_ndarray()[0].astype(np.float64) for unit in units for frame in context.decode(av.Packet(unit.data))]
    return np.concatenate(pcm), context.sample_rate


def tone(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm - pcm.mean()))
    return float(np.argmax(spectrum) * rate / len(pcm))


def test_aac_frames_decode_to_the_test_tone(gst_audio: dict[str, Captured]) -> None:
    got = gst_audio["aac"]
    track = got.media.audio
    assert track is not None and track.codec == "aac" and (track.size_length, track.index_length) == (13, 3)
    units, unpack = depacketize(track, got.audio)
    assert unpack.lost_packets == 0 and len(units) >= 30
    assert {(b.ts - a.ts) & 0xFFFFFFFF for a, b in zip(units, units[1:], strict=False)} == {1024}
    assert all(u.samples == 1024 for u in units)
    pcm, rate = decode("aac", units, track.config)
    assert rate == 16000 and len(pcm) == 1024 * len(units)
    assert abs(tone(pcm[4096:], rate) - 440) < 10


@pytest.mark.parametrize(("kind", "codec"), [("pcma", "pcm_alaw"), ("pcmu", "pcm_mulaw")])
def test_g711_packets_decode_to_the_test_tone(gst_audio: dict[str, Captured], kind: str, codec: str) -> None:
    got = gst_audio[kind]
    track = got.media.audio
    assert track is not None and (track.codec, track.clock_rate, track.channels) == (codec, 8000, 1)
    units, unpack = depacketize(track, got.audio)
    assert unpack.lost_packets == 0 and len(units) >= 15  # audiotestsrc: 1024 samples a packet
    assert all(u.samples == len(u.data) for u in units)
    steps = {(b.ts - a.ts) & 0xFFFFFFFF for a, b in zip(units, units[1:], strict=False)}
    assert steps == {units[0].samples}, "each packet follows the last one's samples"
    pcm, rate = decode(codec, units)
    assert len(pcm) == sum(u.samples for u in units)
    assert abs(tone(pcm, rate) - 440) < 10


def test_several_aac_frames_in_one_packet_and_one_frame_over_two(gst_audio: dict[str, Captured]) -> None:
    got = gst_audio["aac"]
    track = got.media.audio
    assert track is not None
    single, _ = depacketize(track, got.audio)
    first, second = got.audio[0], got.audio[1]
    size_a, size_b = len(single[0].data), len(single[1].data)
    # Two frames, two AU headers (size 13 bits, index delta 3 bits), one packet.
    headers = struct.pack(">HHH", 32, size_a << 3, size_b << 3)
    both = first[:12] + headers + single[0].data + single[1].data
    units, _ = depacketize(track, [both])
    assert [(u.ts, u.data) for u in units] == [(single[0].ts, single[0].data), (single[0].ts + 1024, single[1].data)]
    # One frame split over two packets (only the last has the marker bit).
    payload = struct.pack(">HH", 16, size_a << 3) + single[0].data
    cut = 16
    head = first[:1] + bytes((first[1] & 0x7F,)) + first[2:12] + payload[:cut]
    tail = first[:2] + struct.pack(">H", (int.from_bytes(first[2:4], "big") + 1) & 0xFFFF) + first[4:12] + \
        struct.pack(">HH", 16, size_a << 3) + single[0].data[cut - 4:]
    units, unpack = depacketize(track, [head, tail])
    assert [u.data for u in units] == [single[0].data] and unpack.lost_packets == 0
    del second


def test_lost_audio_packets_are_counted_and_the_rest_kept(gst_audio: dict[str, Captured]) -> None:
    got = gst_audio["pcma"]
    track = got.media.audio
    assert track is not None
    whole, _ = depacketize(track, got.audio)
    units, unpack = depacketize(track, got.audio[:5] + got.audio[7:])
    assert unpack.lost_packets == 2 and [u.ts for u in units] == [u.ts for u in whole[:5] + whole[7:]]
    with pytest.raises(RtpFormatError):
        depacketize(track, [b"\x00" * 20])
