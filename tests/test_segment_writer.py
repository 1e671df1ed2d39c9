"""Segment files: fragmented-MP4 layout, durability steps, parameter sets and picture sizes, audio copy."""

from __future__ import annotations

import io
import logging
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from nvr.parameter_sets import describe, from_annexb, h264_sps_size, hevc_sps_size, parameter_nals
from nvr.segment_writer import SegmentWriter, audio_supported, first_target, stagger_fraction
from nvr.sim.clip import clip_path, ensure_rendered

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex"}


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[str, int, int]]:
    """(type, offset, size) of the boxes in ``data[start:end]`` (top level only); stops at a truncated box."""
    end = len(data) if end is None else end
    out = []
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
        elif size == 0:
            size = end - offset
        if size < 8 or offset + size > end:
            break
        out.append((kind.decode("latin-1"), offset, size))
        offset += size
    return out


def assert_fragmented_mp4(data: bytes, fragments: int | None = None) -> list[str]:
    """ftyp, moov (with mvex, no samples), then moof+mdat pairs; returns the top-level box types."""
    kinds = [kind for kind, _, _ in boxes(data)]
    assert kinds[:2] == ["ftyp", "moov"], kinds
    moov = next((o, s) for k, o, s in boxes(data) if k == "moov")
    assert "mvex" in [k for k, _, _ in boxes(data, moov[0] + 8, moov[0] + moov[1])]
    body = [k for k in kinds[2:] if k != "mfra"]
    assert body and body == ["moof", "mdat"] * (len(body) // 2), kinds
    if fragments is not None:
        assert body.count("moof") == fragments, kinds
    return kinds


def decode_all(path: Path, **kw: object) -> list[av.VideoFrame]:
    with av.open(str(path), format=kw.pop("format", None)) as container:  # type: ignore[arg-type]
        return list(container.decode(video=0))


@pytest.fixture(scope="module")
def clips() -> dict[str, Path]:
    """The simulator's cached H.264 clips (Annex B, SPS/PPS before every IDR, 25 fps, a keyframe a second)."""
    ensure_rendered()
    return {variant: clip_path(variant) for variant in ("main", "alt")}


def read_packets(path: Path, fmt: str | None = None) -> tuple[av.container.InputContainer, list[av.Packet]]:
    container = av.open(str(path), format=fmt)
    return container, [p for p in container.demux(container.streams.video[0]) if p.size]


def write(writer: SegmentWriter, packets: list[av.Packet], start: int = 0) -> None:
    for i, packet in enumerate(packets):
        ts = (start + i) * 3600
        writer.write_video(packet, ts - start * 3600, ts - start * 3600, 3600, packet.is_keyframe)


# ---------------------------------------------------------------------------- rotation stagger

def test_stagger_is_stable_per_camera_and_spread_over_half_to_one() -> None:
    names = [f"cam{i:03d}" for i in range(400)]
    fractions = [stagger_fraction(n) for n in names]
    assert fractions == [stagger_fraction(n) for n in names]
    assert all(0.5 <= f < 1.0 for f in fractions)
    assert len({round(f, 3) for f in fractions}) > 200  # hundreds of cameras do not rotate together
    assert first_target("cam000", 60 * 90_000) == int(60 * 90_000 * fractions[0])


# ---------------------------------------------------------------------------- parameter sets

def encoded_keyframe(codec: str, width: int, height: int, **options: str) -> bytes:
    """One keyframe encoded by libx264/libx265 as Annex B bytes (parameter sets in band)."""
    out = io.BytesIO()
    fmt = "hevc" if codec == "libx265" else "h264"
    with av.open(out, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return out.getvalue()


@pytest.mark.parametrize(("width", "height", "profile"), [
    (1280, 720, "baseline"), (1920, 1080, "high"), (640, 360, "main"), (352, 288, "high444"), (1366, 768, "high"),
])
def test_h264_sps_gives_the_cropped_picture_size(width: int, height: int, profile: str) -> None:
    data = encoded_keyframe("libx264", width, height, profile=profile, preset="ultrafast")
    nals = parameter_nals("h264", data)
    assert nals is not None and [n[0] & 0x1F for n in nals] == [7, 8]
    assert h264_sps_size(nals[0]) == (width, height)
    assert describe("h264", nals).annexb().startswith(b"\x00\x00\x00\x01\x67")


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (640, 360), (800, 450)])
def test_hevc_sps_gives_the_cropped_picture_size(width: int, height: int) -> None:
    data = encoded_keyframe("libx265", width, height, preset="ultrafast", **{"x265-params": "log-level=error"})
    nals = parameter_nals("hevc", data)
    assert nals is not None and [(n[0] >> 1) & 0x3F for n in nals] == [32, 33, 34]
    assert hevc_sps_size(nals[1]) == (width, height)
    params = describe("hevc", nals)
    assert (params.width, params.height) == (width, height)


def test_parameter_sets_are_found_past_a_large_sei_and_not_in_plain_frames(clips: dict[str, Path]) -> None:
    container, packets = read_packets(clips["main"], "h264")
    with container:
        key, plain = bytes(packets[0]), bytes(packets[1])
    start = b"\x00\x00\x00\x01"
    nals = parameter_nals("h264", key)
    assert nals is not None and describe("h264", nals).width == 1280
    assert parameter_nals("h264", plain) is None
    sei = start + b"\x06" + b"\x05" + b"\x77" * 6000  # 6 kB of SEI before the parameter sets
    padded = start + b"\x09\xf0" + sei + b"".join(start + n for n in nals) + start + b"\x65\x88"
    assert parameter_nals("h264", padded) == nals
    assert parameter_nals("mpeg4", key) is None


def test_extradata_in_annexb_form_is_parsed_and_avcc_is_left_alone(clips: dict[str, Path]) -> None:
    with av.open(str(clips["alt"]), format="h264") as container:
        extradata = container.streams.video[0].codec_context.extradata
    params = from_annexb("h264", extradata)
    assert params is not None and (params.width, params.height) == (960, 540)
    assert from_annexb("h264", b"\x01\x42\xc0\x1f\xff\xe1") is None  # avcC
    assert from_annexb("h264", None) is None


# ---------------------------------------------------------------------------- segment files

def test_segment_is_fragmented_mp4_written_under_part_then_renamed(tmp_path: Path, clips: dict[str, Path]) -> None:
    container, packets = read_packets(clips["main"], "h264")
    stream = container.streams.video[0]
    params = from_annexb("h264", stream.codec_context.extradata)
    writer = SegmentWriter(tmp_path, "cam/2024-01-01/00/seg.mp4", stream, params)
    part, final = tmp_path / "cam/2024-01-01/00/seg.mp4.part", tmp_path / "cam/2024-01-01/00/seg.mp4"
    write(writer, packets[:60])  # keyframes at 0, 25, 50
    assert part.exists() and not final.exists()
    # Fragments before the open one are already in the file: a crash now loses only frames 50..59.
    written = part.read_bytes()
    assert_fragmented_mp4(written, fragments=2)
    assert len(decode_all(part, format="mp4")) == 50
    size = writer.close()
    container.close()
    assert final.exists() and not part.exists() and final.stat().st_size == size
    assert_fragmented_mp4(final.read_bytes(), fragments=3)
    frames = decode_all(final)
    assert len(frames) == 60 and frames[0].key_frame
    assert (frames[0].width, frames[0].height) == (1280, 720)
    with av.open(str(final)) as check:
        video = check.streams.video[0]
        assert video.duration * video.time_base == Fraction(60, 25)
    assert (writer.frames, writer.keyframes, writer.width, writer.height) == (60, 3, 1280, 720)


def test_segment_takes_the_new_parameters_after_a_resolution_change(tmp_path: Path, clips: dict[str, Path]) -> None:
    main, _ = read_packets(clips["main"], "h264")
    alt, packets = read_packets(clips["alt"], "h264")
    nals = parameter_nals("h264", bytes(packets[0]))
    assert nals is not None
    params = describe("h264", nals)
    # The template is the stream the connection started with (1280x720); the parameters are the in-band ones.
    writer = SegmentWriter(tmp_path, "cam/seg.mp4", main.streams.video[0], params)
    write(writer, packets[:30])
    writer.close()
    main.close()
    alt.close()
    with av.open(str(tmp_path / "cam/seg.mp4")) as check:
        video = check.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (960, 540)
        frames = list(check.decode(video))
    assert len(frames) == 30 and (frames[0].width, frames[0].height) == (960, 540)


def av_source(path: Path, audio_codec: str, fmt: str) -> None:
    """A 2 s file with H.264 video and ``audio_codec`` audio."""
    with av.open(str(path), mode="w", format=fmt) as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "g": "25"})
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        audio = out.add_stream(audio_codec, rate=8000 if audio_codec.startswith("pcm") else 16000)
        audio.layout = "mono"
        rate = audio.codec_context.sample_rate
        samples = 1024 if audio_codec == "aac" else 160
        fmt_name = audio.codec_context.format.name
        t = 0
        for i in range(50):
            frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), i * 5, np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
            while t < (i + 1) * rate // 25:
                tone = (np.sin(np.arange(t, t + samples) * 2 * np.pi * 440 / rate) * 8000).astype(np.int16)
                data = tone.astype(np.float32)[None, :] / 32768 if fmt_name == "fltp" else tone[None, :]
                aframe = av.AudioFrame.from_ndarray(data, format=fmt_name, layout="mono")
                aframe.sample_rate, aframe.pts = rate, t
                out.mux(audio.encode(aframe))
                t += samples
        out.mux(video.encode(None))
        out.mux(audio.encode(None))


def test_aac_audio_is_copied_into_the_segment(tmp_path: Path) -> None:
    source = tmp_path / "source.mkv"  # raw AAC with its config in extradata, as RTSP (MPEG4-GENERIC) delivers it
    av_source(source, "aac", "matroska")
    with av.open(str(source)) as src:
        video, audio = src.streams.video[0], src.streams.audio[0]
        assert audio_supported(audio)
        writer = SegmentWriter(tmp_path, "cam/seg.mp4", video, from_annexb("h264", video.codec_context.extradata),
                               audio)
        first_v = first_a = None
        for packet in src.demux(video, audio):
            if not packet.size or packet.dts is None:
                continue
            if packet.stream is video:
                first_v = packet.dts if first_v is None else first_v
                rel = int((packet.dts - first_v) * 90_000 * packet.time_base)
                shift = int((packet.pts - packet.dts) * 90_000 * packet.time_base)
                writer.write_video(packet, rel, rel + shift, 3600, packet.is_keyframe)
            else:
                first_a = packet.dts if first_a is None else first_a
                rel = (packet.dts - first_a) * 90_000 * packet.time_base
                writer.write_audio(packet, int(rel), int(packet.duration * 90_000 * packet.time_base))
        writer.close()
    with av.open(str(tmp_path / "cam/seg.mp4")) as check:
        assert [s.type for s in check.streams] == ["video", "audio"]
        assert check.streams.audio[0].codec_context.name == "aac"
        samples = sum(f.samples for f in check.decode(audio=0))
        check.seek(0)
        assert len(list(check.decode(video=0))) == 50
    assert samples >= 16000 * 1.5


def test_g711_audio_is_refused_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = tmp_path / "source.mov"
    av_source(source, "pcm_alaw", "mov")
    caplog.set_level(logging.WARNING, "nvr.segment_writer")
    with av.open(str(source)) as src:
        audio = src.streams.audio[0]
        assert audio.codec_context.name == "pcm_alaw"
        assert not audio_supported(audio)
        assert not audio_supported(audio)
    assert audio_supported(None) is False
    assert len([r for r in caplog.records if "pcm_alaw" in r.getMessage()]) <= 1
