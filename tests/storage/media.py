"""Real fragmented MP4 segment files for storage tests: the simulator's clip remuxed with PyAV."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import av

from nvr.clock import from_utc_us, utc_us
from nvr.models import Run, Segment
from nvr.segments import file_digest
from nvr.sim.clip import ensure_rendered
from nvr.storage.catalog import Catalog
from nvr.storage.layout import segment_relpath

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
FPS = 25
GOP = 25  # the clip has a keyframe every second
TICKS = 90_000 // FPS
T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)


@functools.cache
def clip_packets(variant: str = "sub") -> tuple[bytes, ...]:
    """The clip's coded frames (Annex B), keyframe first, one per frame."""
    path = ensure_rendered()[variant]
    with av.open(str(path), format="h264") as container:
        return tuple(bytes(p) for p in container.demux(video=0) if p.size)


def write_fmp4(path: Path, frames: int = 50, variant: str = "sub") -> Path:
    """Write ``frames`` frames (from the clip's first keyframe) as fragmented MP4, like the recorder does."""
    source = ensure_rendered()[variant]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(source), format="h264") as inp, \
            av.open(str(path), "w", format="mp4", options={"movflags": MOVFLAGS}) as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        ost.time_base = Fraction(1, 90_000)
        n = 0
        for packet in inp.demux(ist):
            if not packet.size:
                continue
            if n == frames:
                break
            packet.stream = ost
            packet.pts = packet.dts = n * TICKS
            packet.duration = TICKS
            packet.time_base = ost.time_base
            out.mux(packet)
            n += 1
    return path


def segment_at(camera: str, run_key: int, seq: int, seconds: float = 2.0) -> tuple[str, int, int]:
    """(relpath, start µs, end µs) of the ``seq``-th back-to-back segment of ``seconds`` in run ``run_key``."""
    start = from_utc_us(run_key) + timedelta(seconds=seq * seconds)
    relpath = segment_relpath(camera, start, run_key, seq)
    return relpath, utc_us(start), utc_us(start) + round(seconds * 1_000_000)


RUN_KEY = utc_us(T0)


async def add_recorded(catalog: Catalog, root: Path, camera: str, run_id: int, seq: int, seconds: float = 2.0,
                       run_key: int = RUN_KEY, write: bool = True) -> Segment:
    """Write a segment file as the recorder would and index it with ``add_segment``; return the row."""
    relpath, start, end = segment_at(camera, run_key, seq, seconds)
    frames = round(seconds * FPS)
    if write:
        write_fmp4(root / relpath, frames)
    size, sha = file_digest(root / relpath)
    return await catalog.add_segment(
        run_id=run_id, start_time=start, end_time=end, media_duration=frames * TICKS, path=relpath,
        size_bytes=size, sha256=sha, frames=frames, keyframes=frames // GOP, codec="h264",
        width=640, height=360,
    )


def write_killed_part(root: Path, relpath: str, frames: int = 75, keep_fragments: int = 2) -> Path:
    """A ``.part`` as a killed writer leaves it: ``keep_fragments`` whole fragments, then half of the next."""
    from nvr.storage.fmp4 import iter_boxes
    from nvr.storage.layout import partial_path

    final = root / relpath
    write_fmp4(final, frames)
    with open(final, "rb") as f:
        mdats = [b for b in iter_boxes(f, final.stat().st_size) if b.type == "mdat"]
    part = partial_path(final)
    final.rename(part)
    cut = mdats[keep_fragments].offset + mdats[keep_fragments].size // 2
    with open(part, "r+b") as f:
        f.truncate(cut)
    return part


@dataclass
class Store:
    """A storage root and its catalog with one camera and one open run of recorded segments."""

    catalog: Catalog
    root: Path
    run: Run
    segments: list[Segment]


async def make_store(catalog: Catalog, root: Path, count: int = 3, camera: str = "cam-a") -> Store:
    root.mkdir(parents=True, exist_ok=True)
    await catalog.upsert_camera(camera)
    run = await catalog.start_run(camera, RUN_KEY)
    segments = [await add_recorded(catalog, root, camera, run.id, i) for i in range(count)]
    return Store(catalog, root, run, segments)


def plays(path: Path) -> int:
    """Frames PyAV decodes from ``path`` (0 if it cannot open it)."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))
