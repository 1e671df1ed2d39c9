"""Segment files: fragmented-MP4 layout, durability steps, parameter sets and picture sizes, audio copy."""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from nvr.media_units import AccessUnit, AudioTrack, VideoTrack
from nvr.parameter_sets import describe, from_annexb, h264_sps_size, hevc_sps_size, parameter_nals
from nvr.recorder_run import length_prefixed
from nvr.segment_writer import SegmentWriter, first_target, stagger_fraction
from nvr.sim.clip import clip_path, ensure_rendered
from nvr.sim.h264 import split_annexb
from nvr.storage.check import probe
from nvr.storage.fmp4 import scan_fragments, truncate_to_complete_fragments

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


def annexb_unit(codec: str, data: bytes, ts: int, recv_us: int = 0) -> AccessUnit:
    """An Annex B access unit as the depacketizer delivers it: parameter sets apart, the rest length-prefixed."""
    params_types, skip = ({32, 33, 34}, {35}) if codec == "hevc" else ({7, 8}, {9})
    kind = (lambda n: (n[0] >> 1) & 0x3F) if codec == "hevc" else (lambda n: n[0] & 0x1F)
    nals = split_annexb(data)
    params = tuple(n for n in nals if kind(n) in params_types)
    body = [n for n in nals if kind(n) not in params_types and kind(n) not in skip]
    key = any(16 <= kind(n) <= 23 for n in body) if codec == "hevc" else any(kind(n) == 5 for n in body)
    return AccessUnit(ts, recv_us, key, length_prefixed(tuple(body)), params or None)


def clip_units(variant: str = "main") -> list[AccessUnit]:
    """The simulator's cached clip as access units, 25 fps (3600 ticks apart)."""
    ensure_rendered()
    with av.open(str(clip_path(variant)), format="h264") as container:
        data = [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]
    return [annexb_unit("h264", d, i * 3600) for i, d in enumerate(data)]


@pytest.fixture(scope="module")
def clips() -> dict[str, Path]:
    """The simulator's cached H.264 clips (Annex B, SPS/PPS before every IDR, 25 fps, a keyframe a second)."""
    ensure_rendered()
    return {variant: clip_path(variant) for variant in ("main", "alt")}


def sync(writer: SegmentWriter) -> None:
    """Wait until every file operation queued so far is done."""
    writer.jobs.submit(lambda: None).result(10)


H264 = VideoTrack("h264", 96)


def write(writer: SegmentWriter, units: list[AccessUnit], start: int = 0) -> None:
    for i, unit in enumerate(units):
        writer.write_video(unit.data, i * 3600, 3600, unit.key)


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
    with av.open(str(clips["main"]), format="h264") as container:
        packets = [bytes(p) for p in container.demux(video=0) if p.size]
    key, plain = packets[0], packets[1]
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

def test_segment_is_fragmented_mp4_written_under_part_then_renamed(tmp_path: Path) -> None:
    units = clip_units("main")
    params = describe("h264", units[0].params or ())
    writer = SegmentWriter(tmp_path, "cam/2024-01-01/00/seg.mp4", H264, params)
    part, final = tmp_path / "cam/2024-01-01/00/seg.mp4.part", tmp_path / "cam/2024-01-01/00/seg.mp4"
    write(writer, units[:60])  # keyframes at 0, 25, 50
    sync(writer)
    assert part.exists() and not final.exists()
    # Fragments before the open one are already in the file: a crash now loses only frames 50..59.
    written = part.read_bytes()
    assert_fragmented_mp4(written, fragments=2)
    assert len(decode_all(part, format="mp4")) == 50
    size = writer.close().result(10)
    assert final.exists() and not part.exists() and final.stat().st_size == size == writer.size
    assert_fragmented_mp4(final.read_bytes(), fragments=3)
    frames = decode_all(final)
    assert len(frames) == 60 and frames[0].key_frame
    assert (frames[0].width, frames[0].height) == (1280, 720)
    with av.open(str(final)) as check:
        video = check.streams.video[0]
        assert video.codec_context.codec_tag == "avc1"
        assert video.duration * video.time_base == Fraction(60, 25)
        packets = [p for p in check.demux(video) if p.size]
    assert [p.is_keyframe for p in packets] == [i % 25 == 0 for i in range(60)]
    assert [p.dts for p in packets] == [i * 3600 * video.time_base.denominator // 90_000 // video.time_base.numerator
                                        for i in range(60)]
    assert [bytes(p) for p in packets] == [u.data for u in units[:60]], "samples are stored byte for byte"
    assert (writer.frames, writer.keyframes, writer.width, writer.height) == (60, 3, 1280, 720)
    probed = probe(final)
    assert (probed.frames, probed.keyframes, probed.media_duration) == (60, 3, 60 * 3600)


def test_a_torn_fragment_is_cut_by_the_storage_checker(tmp_path: Path) -> None:
    units = clip_units("main")
    writer = SegmentWriter(tmp_path, "cam/seg.mp4", H264, describe("h264", units[0].params or ()))
    write(writer, units[:75])
    size = writer.close().result(10)
    path = tmp_path / "cam/seg.mp4"
    with open(path, "r+b") as f:
        f.truncate(size - 1000)  # a crash in the middle of the last fragment's write
    scan = scan_fragments(path)
    assert scan.fragments == 2 and scan.complete_end is not None and scan.complete_end < size - 1000
    truncate_to_complete_fragments(path)
    assert len(decode_all(path)) == 50


def test_segment_takes_the_new_parameters_after_a_resolution_change(tmp_path: Path) -> None:
    units = clip_units("alt")
    params = describe("h264", units[0].params or ())
    writer = SegmentWriter(tmp_path, "cam/seg.mp4", H264, params)
    write(writer, units[:30])
    writer.close().result(10)
    with av.open(str(tmp_path / "cam/seg.mp4")) as check:
        video = check.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (960, 540)
        frames = list(check.decode(video))
    assert len(frames) == 30 and (frames[0].width, frames[0].height) == (960, 540)


def hevc_units(width: int, height: int, count: int) -> list[AccessUnit]:
    """``count`` pictures from libx265 (a keyframe every 10), as access units 3600 ticks apart."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="hevc") as container:
        stream = container.add_stream("libx265", rate=25, options={
            "preset": "ultrafast", "x265-params": "log-level=error:keyint=10:min-keyint=10:bframes=0:scenecut=0"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), i * 7 % 255, np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with av.open(io.BytesIO(out.getvalue()), format="hevc") as container:
        data = [bytes(p) for p in container.demux(video=0) if p.size]
    return [annexb_unit("hevc", d, i * 3600) for i, d in enumerate(data)]


def test_hevc_is_stored_as_hvc1_and_plays(tmp_path: Path) -> None:
    units = hevc_units(640, 360, 25)
    assert units[0].key and units[10].key and not units[1].key
    params = describe("hevc", units[0].params or ())
    assert (params.width, params.height) == (640, 360) and len(params.nals) == 3
    writer = SegmentWriter(tmp_path, "cam/seg.mp4", VideoTrack("hevc", 96), params)
    write(writer, units)
    writer.close().result(10)
    path = tmp_path / "cam/seg.mp4"
    assert_fragmented_mp4(path.read_bytes(), fragments=3)
    with av.open(str(path)) as check:
        video = check.streams.video[0]
        assert (video.codec_context.name, video.codec_context.codec_tag) == ("hevc", "hvc1")
        frames = list(check.decode(video))
    assert len(frames) == 25 and frames[0].key_frame and (frames[0].width, frames[0].height) == (640, 360)
    assert probe(path).frames == 25


def av_source(path: Path, audio_codec: str, fmt: str) -> None:
    """A 2 s file with H.264 video and ``audio_codec`` audio (a 440 Hz tone)."""
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


def avcc_nals(record: bytes) -> tuple[bytes, ...]:
    """The SPS and PPS NAL units of an avcC record (what matroska keeps as extradata)."""
    nals, at = [], 5
    for _ in range(2):
        count = record[at] & 0x1F
        at += 1
        for _ in range(count):
            size = int.from_bytes(record[at:at + 2], "big")
            nals.append(record[at + 2:at + 2 + size])
            at += 2 + size
    return tuple(nals)


def copy_with_audio(tmp_path: Path, source: Path, track: AudioTrack) -> tuple[Path, list[bytes]]:
    """Copy ``source`` (video + audio) through a SegmentWriter; return the segment and the audio frames written."""
    written: list[bytes] = []
    with av.open(str(source)) as src:
        video, audio = src.streams.video[0], src.streams.audio[0]
        packets = [p for p in src.demux(video, audio) if p.size and p.dts is not None]
        params = describe("h264", avcc_nals(bytes(video.codec_context.extradata)))
        writer = SegmentWriter(tmp_path, "cam/seg.mp4", H264, params, track)
        first_v = first_a = None
        for packet in packets:
            if packet.stream is video:
                first_v = packet.dts if first_v is None else first_v
                rel = int((packet.dts - first_v) * 90_000 * packet.time_base)
                writer.write_video(bytes(packet), rel, 3600, packet.is_keyframe)  # mkv holds MP4-style samples
            else:
                first_a = packet.dts if first_a is None else first_a
                rel = int((packet.dts - first_a) * track.clock_rate * packet.time_base)
                duration = int(packet.duration * track.clock_rate * packet.time_base)
                writer.write_audio(bytes(packet), rel, duration)
                written.append(bytes(packet))
        writer.close().result(10)
    return tmp_path / "cam/seg.mp4", written


def test_aac_audio_is_copied_into_the_segment(tmp_path: Path) -> None:
    source = tmp_path / "source.mkv"  # raw AAC with its config in extradata, as RTSP (MPEG4-GENERIC) delivers it
    av_source(source, "aac", "matroska")
    with av.open(str(source)) as src:
        config = bytes(src.streams.audio[0].codec_context.extradata)
    path, written = copy_with_audio(tmp_path, source, AudioTrack("aac", 97, 16000, 1, config))
    with av.open(str(path)) as check:
        assert [s.type for s in check.streams] == ["video", "audio"]
        assert check.streams.audio[0].codec_context.name == "aac"
        assert [bytes(p) for p in check.demux(audio=0) if p.size] == written
        check.seek(0)
        samples = sum(f.samples for f in check.decode(audio=0))
        check.seek(0)
        assert len(list(check.decode(video=0))) == 50
    assert samples >= 16000 * 1.5


@pytest.mark.parametrize(("codec", "tag"), [("pcm_alaw", "alaw"), ("pcm_mulaw", "ulaw")])
def test_g711_audio_is_stored_as_is_and_decodes_to_the_same_samples(tmp_path: Path, codec: str, tag: str) -> None:
    source = tmp_path / "source.mov"
    av_source(source, codec, "mov")
    path, written = copy_with_audio(tmp_path, source, AudioTrack(codec, 8, 8000, 1))
    with av.open(str(source)) as src:
        expected = np.concatenate([f.to_ndarray().ravel() for f in src.decode(audio=0)])
    with av.open(str(path)) as check:
        audio = check.streams.audio[0]
        assert (audio.codec_context.name, audio.codec_context.codec_tag, audio.codec_context.sample_rate) == \
            (codec, tag, 8000)
        assert b"".join(bytes(p) for p in check.demux(audio) if p.size) == b"".join(written)
        check.seek(0)
        decoded = np.concatenate([f.to_ndarray().ravel() for f in check.decode(audio=0)])
    assert len(decoded) == len(expected) >= 8000 * 1.9
    assert np.array_equal(decoded, expected), "G.711 is kept byte for byte: it decodes to the same PCM"
