"""Clips built by copying fragments: start cut, end cut, segment boundaries, gaps, codec changes, source checks."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from nvr.export_clip import ClipBuilder, ExportCancelled, SourceMismatch
from nvr.export_plan import CameraPlan, plan_camera
from nvr.storage.catalog import Catalog, open_catalog
from tests.export_media import FPS, FRAME_US, T0, packets, record, shown_packets, source_frames_in

S = 1_000_000


@pytest.fixture
async def catalog(tmp_path: Path):
    async with await open_catalog(f"sqlite://{tmp_path / 'catalog.db'}") as cat:
        yield cat


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "storage"


def header_length_s(path: Path) -> float:
    """The length the MP4 header announces (``mvex/mehd``, movie timescale), in seconds."""
    import struct

    from nvr.export_boxes import children
    from nvr.export_source import read_init

    init = read_init(path)
    moov = init.moov
    mvex = next(c for c in children(moov, 8, len(moov)) if c[0] == b"mvex")
    mehd = next(c for c in children(moov, mvex[2], mvex[3]) if c[0] == b"mehd")
    return struct.unpack_from(">Q", moov, mehd[2] + 4)[0] / init.movie_timescale


def write(plan: CameraPlan, root: Path, out: Path, index: int = 0, **kwargs) -> ClipBuilder:
    builder = ClipBuilder(plan.clips[index], root, **kwargs)
    with open(out, "wb") as f:
        for piece in builder:
            f.write(piece)
    assert out.stat().st_size == builder.result.bytes
    return builder


async def test_precise_start_and_end_across_segment_boundaries(catalog: Catalog, root: Path, tmp_path: Path) -> None:
    segments = await record(catalog, root, "cam-a", T0, count=4)  # 4 x 2 s, keyframe every second
    start, end = T0 + 1_300_000, T0 + 6_500_000  # mid-GOP start, three boundaries, mid-segment end
    plan = await plan_camera(catalog, root, "cam-a", start, end)
    assert len(plan.clips) == 1 and plan.gaps == []
    builder = write(plan, root, tmp_path / "clip.mp4")

    expected = source_frames_in(root, segments, start, end)
    shown = shown_packets(tmp_path / "clip.mp4")
    assert [p[1] for p in shown] == expected, "the clip shows exactly the source frames of the range, in order"
    assert shown[0][0] == 0, "the edit list puts the frame on screen at the requested start at time 0"
    all_packets = packets(tmp_path / "clip.mp4")
    assert all_packets[0][2] and all_packets[0][0] < 0, "copying starts at the keyframe before, hidden by the edit"
    assert builder.result.frames == len(expected) and builder.result.preroll_frames == len(all_packets) - len(shown)
    # The first shown frame is the one on screen at the requested second (±1 frame), the duration the range's.
    assert abs(builder.result.start_us - start) < FRAME_US
    duration_us = (shown[-1][0] + 3600) * 1_000_000 // 90_000
    assert abs(duration_us - (end - start)) <= FRAME_US
    assert builder.result.duration_s == pytest.approx(duration_us / 1e6, abs=1e-6)
    assert abs(header_length_s(tmp_path / "clip.mp4") - builder.result.duration_s) <= FRAME_US / 1e6
    assert [b[0] for b in builder.result.boundaries] == [s.id for s in segments[:4]]
    assert [s[0] for s in builder.result.verified] == [s.id for s in segments[:4]]


async def test_pyav_decodes_and_seeks_the_clip(catalog: Catalog, root: Path, tmp_path: Path) -> None:
    await record(catalog, root, "cam-a", T0, count=3)
    plan = await plan_camera(catalog, root, "cam-a", T0 + 500_000, T0 + 5_500_000)
    write(plan, root, tmp_path / "clip.mp4")
    with av.open(str(tmp_path / "clip.mp4")) as container:
        frames = [f for f in container.decode(video=0)]
        assert all(f.width == 640 and f.height == 360 for f in frames)
        shown = [f for f in frames if f.pts >= 0]
        assert len(shown) == 5 * FPS + 1  # on screen during [0.5 s, 5.5 s): the frames from 0.48 s to 5.48 s
    with av.open(str(tmp_path / "clip.mp4")) as container:
        container.seek(3 * 90_000, stream=container.streams.video[0])
        first = next(container.decode(video=0))
        assert first.pts <= 3 * 90_000 and first.key_frame


async def test_gaps_are_closed_up_and_reported(catalog: Catalog, root: Path, tmp_path: Path) -> None:
    first = await record(catalog, root, "cam-a", T0, count=3)  # [0, 6 s)
    second = await record(catalog, root, "cam-a", T0 + 9 * S, count=2)  # [9, 13 s): a 3 s gap
    start, end = T0 + 1_300_000, T0 + 12_500_000
    plan = await plan_camera(catalog, root, "cam-a", start, end)
    assert plan.gaps == [(T0 + 6 * S, T0 + 9 * S)]
    builder = write(plan, root, tmp_path / "clip.mp4")
    shown = shown_packets(tmp_path / "clip.mp4")
    assert [p[1] for p in shown] == source_frames_in(root, first + second, start, end)
    gaps_us = sum(e - s for s, e in plan.gaps)
    assert abs(builder.result.duration_s * 1e6 - (end - start - gaps_us)) <= FRAME_US, "duration = range - gaps"
    pts = [p[0] for p in shown]
    assert all(b - a == 3600 for a, b in zip(pts, pts[1:], strict=False)), "time runs on across the gap"
    resume = [b for b in builder.result.boundaries if b[0] == second[0].id][0]
    assert resume[1] == T0 + 9 * S and resume[2] == pytest.approx((6 * S - 1_280_000) / 1e6)


async def test_range_ending_before_footage_ends_and_starting_before_it_begins(
        catalog: Catalog, root: Path, tmp_path: Path) -> None:
    segments = await record(catalog, root, "cam-a", T0 + 2 * S, count=2)  # [2, 6 s)
    plan = await plan_camera(catalog, root, "cam-a", T0, T0 + 3 * S)
    assert plan.gaps == [(T0, T0 + 2 * S)]
    builder = write(plan, root, tmp_path / "clip.mp4")
    shown = shown_packets(tmp_path / "clip.mp4")
    assert [p[1] for p in shown] == source_frames_in(root, segments, T0, T0 + 3 * S)
    assert builder.result.preroll_frames == 0 and builder.result.start_us == T0 + 2 * S
    assert len(shown) == FPS


async def test_a_resolution_change_starts_a_new_clip(catalog: Catalog, root: Path, tmp_path: Path) -> None:
    segments = await record(catalog, root, "cam-a", T0, count=4, variants=["sub", "sub", "alt", "alt"])
    plan = await plan_camera(catalog, root, "cam-a", T0 + 1 * S, T0 + 7 * S)
    assert [len(c.segments) for c in plan.clips] == [2, 2]
    assert plan.clips[0].name != plan.clips[1].name
    sizes = []
    for i, clip in enumerate(plan.clips):
        write(plan, root, tmp_path / f"clip{i}.mp4", index=i)
        with av.open(str(tmp_path / f"clip{i}.mp4")) as container:
            sizes.append({(f.width, f.height) for f in container.decode(video=0)})
        assert [p[1] for p in shown_packets(tmp_path / f"clip{i}.mp4")] == source_frames_in(
            root, clip.segments, clip.start_us, clip.end_us)
    assert sizes == [{(640, 360)}, {(960, 540)}]
    assert plan.clips[1].start_us == segments[2].start_time


async def test_a_changed_source_file_fails_the_clip(catalog: Catalog, root: Path, tmp_path: Path) -> None:
    segments = await record(catalog, root, "cam-a", T0, count=2)
    path = root / segments[1].path
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01
    path.write_bytes(bytes(data))
    plan = await plan_camera(catalog, root, "cam-a", T0, T0 + 4 * S)
    with pytest.raises(SourceMismatch, match="does not match the catalog"):
        write(plan, root, tmp_path / "clip.mp4")


async def test_cancel_stops_between_fragments(catalog: Catalog, root: Path, tmp_path: Path) -> None:
    import threading

    await record(catalog, root, "cam-a", T0, count=2)
    plan = await plan_camera(catalog, root, "cam-a", T0, T0 + 4 * S)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ExportCancelled):
        write(plan, root, tmp_path / "clip.mp4", cancel=cancel)


async def test_progress_counts_every_source_byte(catalog: Catalog, root: Path, tmp_path: Path) -> None:
    segments = await record(catalog, root, "cam-a", T0, count=3)
    plan = await plan_camera(catalog, root, "cam-a", T0 + 2_500_000, T0 + 3 * S)
    seen: list[int] = []
    write(plan, root, tmp_path / "clip.mp4", progress=seen.append)
    assert [s.id for s in plan.segments] == [segments[1].id]
    assert 0.9 * plan.source_bytes < sum(seen) < plan.source_bytes  # every fragment; not the small header


async def test_audio_is_copied_alongside_and_stays_continuous(catalog: Catalog, root: Path, tmp_path: Path) -> None:
    await record(catalog, root, "cam-a", T0, count=3, audio=True)
    start, end = T0 + 1_300_000, T0 + 5_500_000
    plan = await plan_camera(catalog, root, "cam-a", start, end)
    builder = write(plan, root, tmp_path / "clip.mp4")
    with av.open(str(tmp_path / "clip.mp4")) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        dts = [p.dts for p in container.demux(audio) if p.size]
    assert dts == sorted(set(dts)), "audio decode times strictly increase across the segment boundaries"
    seconds = [d * audio.time_base for d in dts]
    assert seconds[0] < 0.2 and abs(float(seconds[-1]) - builder.result.duration_s) < 0.3
    with av.open(str(tmp_path / "clip.mp4")) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
        assert abs(samples / audio.sample_rate - builder.result.duration_s) < 0.3
    with av.open(str(tmp_path / "clip.mp4")) as container:
        assert len([f for f in container.decode(video=0) if f.pts >= 0]) == builder.result.frames
