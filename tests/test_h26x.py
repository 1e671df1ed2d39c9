"""SPS parsing and the avcC/hvcC records, checked against what FFmpeg's own mp4 muxer writes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from nvr.h26x import avcc_record, hvcc_record, parse_h264_sps, parse_hevc_sps
from nvr.sim.h264 import split_annexb


def ffmpeg_mp4(codec: str, width: int, height: int, **options: str) -> tuple[tuple[bytes, ...], bytes]:
    """Encode one picture with libx264/libx265 straight into FFmpeg's mp4 muxer.

    Returns the encoder's parameter sets (Annex B extradata, split) and the
    avcC/hvcC record the muxer wrote for them. FFmpeg 8's hvcC writer now and
    then refuses x265's extradata with "patches welcome": the same extradata is
    accepted or refused by chance (uninitialised memory in the muxer), and a
    process can stay in a refusing state. So a refused try is repeated here,
    and then in fresh processes.
    """
    for _ in range(10):
        try:
            return _ffmpeg_mp4(codec, width, height, **options)
        except av.error.PatchWelcomeError:
            continue
    for _ in range(10):
        out = subprocess.run([sys.executable, "-c", _IN_A_PROCESS, json.dumps([codec, width, height, options])],
                             capture_output=True, text=True, cwd=REPO, timeout=120)
        if out.returncode == 0:
            nals, record = json.loads(out.stdout.strip().splitlines()[-1])
            return tuple(bytes.fromhex(n) for n in nals), bytes.fromhex(record)
    raise AssertionError("FFmpeg's mp4 muxer refused ten encodes here and ten in fresh processes")


REPO = Path(__file__).resolve().parents[1]
_IN_A_PROCESS = (
    "import json, sys; from tests.test_h26x import _ffmpeg_mp4; codec, w, h, o = json.loads(sys.argv[1]); "
    "nals, record = _ffmpeg_mp4(codec, w, h, **o); print(json.dumps([[n.hex() for n in nals], record.hex()]))"
)


def _ffmpeg_mp4(codec: str, width: int, height: int, **options: str) -> tuple[tuple[bytes, ...], bytes]:
    mp4 = io.BytesIO()
    options = dict(options)
    pix = options.pop("pix", "yuv420p")
    with av.open(mp4, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, pix
        frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
        frame = frame.reformat(format=pix)
        frame.pts = 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
        extradata = bytes(stream.codec_context.extradata)
    kind = "hevc" if codec == "libx265" else "h264"
    wanted = {32, 33, 34} if kind == "hevc" else {7, 8}
    nal_kind = (lambda n: (n[0] >> 1) & 0x3F) if kind == "hevc" else (lambda n: n[0] & 0x1F)
    nals = tuple(n for n in split_annexb(extradata) if nal_kind(n) in wanted)
    with av.open(io.BytesIO(mp4.getvalue())) as check:
        record = bytes(check.streams.video[0].codec_context.extradata)
    return nals, record


@pytest.mark.parametrize(("width", "height", "profile", "idc", "chroma"), [
    (1280, 720, "baseline", 66, 1), (1920, 1080, "high", 100, 1), (352, 288, "high444", 244, 3),
    (1366, 768, "main", 77, 1),
])
def test_h264_sps_and_avcc_match_ffmpeg(width: int, height: int, profile: str, idc: int, chroma: int) -> None:
    nals, record = ffmpeg_mp4("libx264", width, height, profile=profile, preset="veryfast",
                              **{"x264-params": "bframes=0"},
                              **({"pix": "yuv444p"} if chroma == 3 else {}))
    assert len(nals) == 2
    info = parse_h264_sps(nals[0])
    assert (info.width, info.height, info.profile_idc, info.chroma_format_idc) == (width, height, idc, chroma)
    assert info.level_idc == record[3] and info.profile_compat == record[2]
    ours = avcc_record(nals, info)
    assert ours[:6 + 2 + len(nals[0]) + 3 + len(nals[1])] == record[:6 + 2 + len(nals[0]) + 3 + len(nals[1])]
    if idc == 100:
        assert ours == record, "high profile: with the chroma and bit depth extension"


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (640, 360), (800, 450)])
def test_hevc_sps_and_hvcc_match_ffmpeg(width: int, height: int) -> None:
    nals, record = ffmpeg_mp4("libx265", width, height, preset="ultrafast",
                              **{"x265-params": "log-level=error:frame-threads=1:pools=none:info=0"})
    assert len(nals) == 3
    info = parse_hevc_sps(nals[1])
    assert (info.width, info.height, info.profile_idc, info.chroma_format_idc) == (width, height, 1, 1)
    assert (info.bit_depth_luma, info.bit_depth_chroma) == (8, 8)
    ours = hvcc_record(nals, info)
    assert ours[:13] == record[:13], "profile space, tier, profile, compatibility, constraints, level"
    assert ours[16:19] == record[16:19], "chroma format and bit depths"
    assert ours[21] & 3 == record[21] & 3 == 3, "4-byte NAL lengths"
    assert hvcc_arrays(ours) == {k: v for k, v in hvcc_arrays(record).items() if k in (32, 33, 34)}


def hvcc_arrays(record: bytes) -> dict[int, list[bytes]]:
    """NAL unit type -> NAL units of an hvcC record."""
    out: dict[int, list[bytes]] = {}
    at = 23
    for _ in range(record[22]):
        kind, count = record[at] & 0x3F, int.from_bytes(record[at + 1:at + 3], "big")
        at += 3
        for _ in range(count):
            size = int.from_bytes(record[at:at + 2], "big")
            out.setdefault(kind, []).append(record[at + 2:at + 2 + size])
            at += 2 + size
    return out


def test_bad_sps_is_refused() -> None:
    with pytest.raises((IndexError, ValueError)):
        parse_h264_sps(b"\x67\x42")
    with pytest.raises((IndexError, ValueError)):
        parse_hevc_sps(b"\x42\x01\x01")
