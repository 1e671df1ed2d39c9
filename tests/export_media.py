"""Real source footage for export tests: fMP4 segments written with PyAV, indexed in a real catalog."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from nvr.clock import from_utc_us, utc_us
from nvr.models import Segment
from nvr.segments import file_digest
from nvr.sim.clip import ensure_rendered
from nvr.storage.catalog import Catalog
from nvr.storage.layout import segment_relpath
from tests.storage.media import FPS, GOP, MOVFLAGS, TICKS, write_fmp4

__all__ = ["FPS", "FRAME_US", "GOP", "T0", "packets", "record", "shown_packets", "source_frames_in"]

T0 = utc_us(datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc))
FRAME_US = 1_000_000 // FPS


def write_av_fmp4(path: Path, frames: int, variant: str = "sub", rate: int = 16_000) -> Path:
    """Like ``write_fmp4``, with a mono AAC track (a 440 Hz tone) muxed alongside, as a camera with audio."""
    source = ensure_rendered()[variant]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(source), format="h264") as inp, \
            av.open(str(path), "w", format="mp4", options={"movflags": MOVFLAGS}) as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        ost.time_base = Fraction(1, 90_000)
        audio = out.add_stream("aac", rate=rate)
        audio.layout = "mono"
        n, t = 0, 0
        for packet in inp.demux(ist):
            if not packet.size:
                continue
            if n == frames:
                break
            packet.stream, packet.pts, packet.dts, packet.duration = ost, n * TICKS, n * TICKS, TICKS
            packet.time_base = ost.time_base
            out.mux(packet)
            n += 1
            while t < n * rate // FPS:
                tone = (np.sin(np.arange(t, t + 1024) * 2 * np.pi * 440 / rate) * 8000).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(tone[None, :], format="s16", layout="mono")
                frame.sample_rate, frame.pts = rate, t
                for p in audio.encode(frame):
                    out.mux(p)
                t += 1024
        for p in audio.encode():
            out.mux(p)
    return path


def _template(root: Path, variant: str, frames: int, audio: bool = False) -> Path:
    """One segment file per (variant, length), written once per storage root and copied after that."""
    path = root.parent / ".templates" / f"{variant}-{frames}{'-aac' if audio else ''}.mp4"
    if not path.exists():
        (write_av_fmp4 if audio else write_fmp4)(path, frames, variant)
    return path


async def record(catalog: Catalog, root: Path, camera: str, start_us: int, count: int, seconds: int = 2,
                 variant: str = "sub", kelurahan: str | None = None, variants: list[str] | None = None,
                 audio: bool = False) -> list[Segment]:
    """``count`` back-to-back segments of ``seconds`` as one ended run starting at ``start_us``.

    ``variants`` gives each segment its own clip variant (a resolution change mid-run).
    """
    await catalog.upsert_camera(camera, kelurahan=kelurahan)
    run = await catalog.start_run(camera, start_us)
    frames = seconds * FPS
    out = []
    for i in range(count):
        start = start_us + i * seconds * 1_000_000
        relpath = segment_relpath(camera, from_utc_us(start), start_us, i)
        target = root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        v = variants[i] if variants else variant
        shutil.copyfile(_template(root, v, frames, audio), target)
        size, sha = file_digest(target)
        width, height = {"sub": (640, 360), "alt": (960, 540), "main": (1280, 720)}[v]
        out.append(await catalog.add_segment(
            run_id=run.id, start_time=start, end_time=start + seconds * 1_000_000, media_duration=frames * TICKS,
            path=relpath, size_bytes=size, sha256=sha, frames=frames, keyframes=frames // GOP, codec="h264",
            width=width, height=height))
    await catalog.end_run(run.id, out[-1].end_time, "test")
    return out


def packets(path: Path) -> list[tuple[int, bytes, bool]]:
    """``(pts, bytes, keyframe)`` of every video packet (pts in the stream's 1/90000 time base)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.time_base == 1 / 90_000 or float(stream.time_base) == 1 / 90_000
        return [(p.pts, bytes(p), p.is_keyframe) for p in container.demux(stream) if p.size]


def shown_packets(path: Path) -> list[tuple[int, bytes, bool]]:
    """The packets a player shows: those at or after the edit list's start (pts >= 0)."""
    return [p for p in packets(path) if p[0] >= 0]


def source_frames_in(root: Path, segments: list[Segment], start_us: int, end_us: int) -> list[bytes]:
    """Source frames on screen during ``[start_us, end_us)``: a frame shows from its start to the next one's."""
    out = []
    for segment in segments:
        for pts, data, _ in packets(root / segment.path):
            begin = segment.start_time + pts * 1_000_000 // 90_000
            if begin < end_us and begin + FRAME_US > start_us:
                out.append(data)
    return out
