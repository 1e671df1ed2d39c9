"""Build one MP4 from consecutive segments by copying fragments: no decoding, no re-encoding.

The output is a fragmented MP4: the first segment's ``ftyp`` + ``moov`` (with
an edit list), then the source ``moof`` + ``mdat`` fragments rebuilt with
continuous decode times (``tfdt``) and new sequence numbers (``mfhd``).

* **Start**: copying starts at the keyframe at or before the requested start;
  the edit list (``elst`` media_time) hides the frames before the frame that is
  on screen at the requested time, so players start exactly there.
* **End**: frames that start at or after the requested end are left out
  (cut in decode order, so no kept frame loses a reference).
* **Gaps** between segments are closed up: the next segment's first frame
  follows the previous one's last frame, so the clip's duration is the range
  minus its gaps. Where they were is reported (``ClipResult.boundaries``).
* Every source file is read whole and its SHA-256 compared with the catalog.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nvr.export_boxes import MediaError, TrackSamples, build_fragment, build_init, build_mfra
from nvr.export_plan import ClipPlan
from nvr.export_source import SourceReader
from nvr.models import MEDIA_TIMEBASE, Segment

__all__ = ["ClipBuilder", "ClipResult", "ExportCancelled", "SourceMismatch"]

Progress = Callable[[int], None]


class SourceMismatch(MediaError):
    """A source file is not what the catalog recorded (size or SHA-256)."""


class ExportCancelled(Exception):
    """The export was asked to stop (shutdown); it is resumed later."""


@dataclass(slots=True)
class ClipResult:
    """What was written: actual wall range, frames, and where each source segment starts in the clip."""

    start_us: int = 0
    end_us: int = 0
    timescale: int = MEDIA_TIMEBASE
    duration: int = 0
    """Presentation length in ``timescale`` units (pre-roll before the edit point excluded)."""
    frames: int = 0
    """Frames shown (from the requested start on)."""
    preroll_frames: int = 0
    """Frames decoded but hidden by the edit list (from the keyframe to the requested start)."""
    bytes: int = 0
    boundaries: list[tuple[int, int, float]] = field(default_factory=list)
    """``(segment id, wall time the kept part starts, position in the clip in seconds)`` per source segment."""
    verified: list[tuple[int, int, str]] = field(default_factory=list)
    """``(segment id, size, SHA-256)`` of each source file, as read and matching the catalog."""

    @property
    def duration_s(self) -> float:
        return self.duration / self.timescale


@dataclass(slots=True)
class _Cut:
    """Where copying starts in the first segment: fragment and sample index, and the edit offset."""

    fragment: int
    sample: int
    key_time: int
    media_time: int
    origin: int
    """Decode time of the segment's first video sample (its wall start)."""


def _ticks(segment: Segment, timescale: int) -> int:
    return segment.media_duration * timescale // MEDIA_TIMEBASE


def _wall_to_media(segment: Segment, wall_us: int, origin: int, timescale: int) -> int:
    """Media position of ``wall_us`` inside ``segment``: linear between its wall and media spans."""
    ticks, wall = _ticks(segment, timescale), segment.end_time - segment.start_time
    if ticks <= 0:
        return origin + (wall_us - segment.start_time) * timescale // 1_000_000
    return origin + (wall_us - segment.start_time) * ticks // wall


def _media_to_wall(segment: Segment, position: int, origin: int, timescale: int) -> int:
    ticks, wall = _ticks(segment, timescale), segment.end_time - segment.start_time
    if ticks <= 0:
        return segment.start_time + (position - origin) * 1_000_000 // timescale
    return min(segment.end_time, segment.start_time + (position - origin) * wall // ticks)


class ClipBuilder:
    """Iterate to get the clip's bytes (``bytes`` / ``memoryview`` pieces); ``result`` is complete afterwards.

    ``root`` is the storage root. ``progress(n)`` is called with the source
    bytes consumed; ``cancel`` stops it between fragments (``ExportCancelled``).
    ``mfra`` appends a random-access index (file exports; not for streams).
    """

    def __init__(self, plan: ClipPlan, root: Path, *, mfra: bool = True, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.plan = plan
        self.root = root
        self.mfra = mfra
        self.progress = progress or (lambda n: None)
        self.cancel = cancel
        self.result = ClipResult()

    def __iter__(self) -> Iterator[bytes | memoryview]:
        segments = self.plan.segments
        first = SourceReader(self.root / segments[0].path)
        try:
            init = first.init
            video = init.video
            ts = video.timescale
            self.result.timescale = ts
            cut = self._find_cut(first, segments[0], ts)
            expected = self._expected_duration(cut, ts)
            head = build_init(init, {t.track_id: cut.media_time * t.timescale // ts for t in init.tracks},
                              expected * init.movie_timescale // ts)
            yield head
            self.result.bytes = len(head)
            state = _State(init.signature, video.track_id, ts, {t.track_id: t.timescale for t in init.tracks}, cut)
            for k, segment in enumerate(segments):
                reader = first if k == 0 else SourceReader(self.root / segment.path)
                try:
                    yield from self._copy_segment(reader, segment, k, state)
                finally:
                    if k:
                        reader.close()
                if state.done:
                    break
            if self.mfra and state.random_access:
                tail = build_mfra(video.track_id, state.random_access)
                yield tail
                self.result.bytes += len(tail)
        finally:
            first.close()
        self.result.duration = max(0, state.video_end - cut.media_time)

    def _expected_duration(self, cut: _Cut, ts: int) -> int:
        """The clip's length (``ts`` units) from the catalog's media durations: exact but for the end frame.

        Written into the header before any fragment is read, so players show
        the length at once; ``result.duration`` is the exact figure.
        """
        segments = self.plan.segments
        total = sum(_ticks(s, ts) for s in segments)
        total -= cut.key_time + cut.media_time - cut.origin
        last = segments[-1]
        if self.plan.end_us < last.end_time:
            total -= _ticks(last, ts) - (_wall_to_media(last, self.plan.end_us, 0, ts))
        return max(0, total)

    def _find_cut(self, reader: SourceReader, segment: Segment, ts: int) -> _Cut:
        """The keyframe to start copying from and the edit offset to the frame shown at the requested start."""
        video_id = reader.init.video.track_id
        fragments = reader.scan()
        samples = [(i, j, t, f.tracks[video_id].is_key(j)) for i, f in enumerate(fragments)
                   if video_id in f.tracks for j, t in enumerate(f.tracks[video_id].times())]
        if not samples:
            raise MediaError(f"segment {segment.path} has no video samples")
        origin = samples[0][2]
        if self.plan.start_us <= segment.start_time:
            return _Cut(samples[0][0], samples[0][1], origin, 0, origin)
        position = _wall_to_media(segment, self.plan.start_us, origin, ts)
        shown = max((n for n, s in enumerate(samples) if s[2] <= position), default=0)
        key = max((n for n in range(shown + 1) if samples[n][3]), default=0)
        return _Cut(samples[key][0], samples[key][1], samples[key][2], samples[shown][2] - samples[key][2], origin)

    def _copy_segment(self, reader: SourceReader, segment: Segment, k: int, state: _State) -> Iterator[
            bytes | memoryview]:
        if reader.init.signature != state.signature:
            raise MediaError(f"segment {segment.path} has other codec parameters than the clip's first segment")
        video_id, ts = state.video_id, state.timescale
        origin: int | None = state.cut.origin if k == 0 else None
        delta = -state.cut.key_time
        started = False
        end_position: int | None = None
        for index, data in enumerate(reader.fragments()):
            if self.cancel is not None and self.cancel.is_set():
                raise ExportCancelled("export stopped")
            self.progress(data.fragment.end - data.fragment.offset)
            if state.done or (k == 0 and index < state.cut.fragment):
                continue
            vt = data.fragment.tracks.get(video_id)
            if vt is None or not len(vt):
                continue
            times = vt.times()
            if not started:
                started = True
                if origin is None:
                    origin = times[0]
                    delta = state.video_end - origin
                begin_wall = segment.start_time if k else self._wall_of(segment, state.cut, origin, ts)
                self.result.boundaries.append((segment.id, begin_wall,
                                               max(0, state.video_end - state.cut.media_time) / ts))
                if self.plan.end_us < segment.end_time:
                    end_position = _wall_to_media(segment, self.plan.end_us, origin, ts)
            a = state.cut.sample if k == 0 and index == state.cut.fragment else 0
            b = len(vt)
            if end_position is not None:
                b = next((j for j in range(a, len(vt)) if times[j] >= end_position), len(vt))
                if b < len(vt):
                    state.done = True
            if b <= a:
                continue
            out = [vt.slice(a, b, times[a] + delta)]
            video_out_end = times[b - 1] + vt.durations[b - 1] + delta
            for track_id, track in data.fragment.tracks.items():
                if track_id != video_id and len(track):
                    kept = self._audio(track, delta, state, video_out_end if state.done else None)
                    if kept is not None:
                        out.append(kept)
            self._count(out[0], state)
            state.video_end = video_out_end
            self.result.end_us = _media_to_wall(segment, times[b - 1] + vt.durations[b - 1], origin, ts)
            header, extents = build_fragment(state.sequence, out)
            if vt.is_key(a):
                state.random_access.append((out[0].base_time, self.result.bytes))
            state.sequence += 1
            yield header
            self.result.bytes += len(header)
            for offset, length in extents:
                piece = data.view(offset, length)
                yield piece
                self.result.bytes += length
        size, sha = reader.finish()
        if size != segment.size_bytes or sha != segment.sha256:
            raise SourceMismatch(f"source segment {segment.path} (id {segment.id}) does not match the catalog: "
                                 f"{size} bytes, SHA-256 {sha} (catalog: {segment.size_bytes} bytes, "
                                 f"{segment.sha256}); run nvr check-storage --deep")
        self.result.verified.append((segment.id, size, sha))

    def _wall_of(self, segment: Segment, cut: _Cut, origin: int, ts: int) -> int:
        wall = _media_to_wall(segment, cut.key_time + cut.media_time, origin, ts)
        self.result.start_us = wall
        return wall

    def _count(self, video: TrackSamples, state: _State) -> None:
        t = video.base_time
        for d in video.durations:
            if t >= state.cut.media_time:
                self.result.frames += 1
            else:
                self.result.preroll_frames += 1
            t += d

    @staticmethod
    def _audio(track: TrackSamples, video_delta: int, state: _State, limit: int | None) -> TrackSamples | None:
        """Audio samples that fit after what was kept already and, at the end cut, before the video ends."""
        scale = state.timescales[track.track_id]
        delta = video_delta * scale // state.timescale
        floor = state.audio_end.get(track.track_id, 0)
        stop = None if limit is None else limit * scale // state.timescale
        times = [t + delta for t in track.times()]
        a = next((j for j, t in enumerate(times) if t >= floor), len(times))
        b = len(times) if stop is None else next((j for j in range(a, len(times)) if times[j] >= stop), len(times))
        if b <= a:
            return None
        state.audio_end[track.track_id] = times[b - 1] + track.durations[b - 1]
        return track.slice(a, b, times[a])


@dataclass(slots=True)
class _State:
    signature: tuple
    video_id: int
    timescale: int
    timescales: dict[int, int]
    cut: _Cut
    video_end: int = 0
    sequence: int = 1
    done: bool = False
    audio_end: dict[int, int] = field(default_factory=dict)
    random_access: list[tuple[int, int]] = field(default_factory=list)
