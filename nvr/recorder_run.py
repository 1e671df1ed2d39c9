"""One connection's access units to runs of contiguous segments: anchoring, rotation, parameter changes."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nvr.clock import from_utc_us
from nvr.media_units import AccessUnit, AudioTrack, AudioUnit, VideoTrack
from nvr.parameter_sets import ParameterSets, describe
from nvr.recorder_events import ClosedSegment
from nvr.rtcp import SenderReport, signed32
from nvr.segment_writer import SegmentWriter, first_target
from nvr.storage.layout import segment_relpath
from nvr.stream_time import MEDIA_HZ, MediaTimeline, WallClock, us_to_90k

log = logging.getLogger(__name__)

ANCHOR_US = 400_000
"""Pictures are held this long (receipt time) after the first keyframe before the run is anchored to the wall clock."""
PRELUDE_MAX = 400
"""...or until this many units are held (a connection may deliver a second or more of buffered data at once)."""
MAX_SEGMENT = 50 * 60 * MEDIA_HZ
"""No segment grows past 50 min of media (the catalog refuses an hour): without a keyframe, the run ends."""
GAP_US = 2_000_000
"""A picture over a second of media after the previous one that arrives this long after the previous picture
was sent marks a gap: the camera paused, and the run ends before the pause."""
SYNC_TRUST = 2 * MEDIA_HZ
"""Sender reports place audio only when they agree with receipt times within this (a stale report after a
timestamp jump would not)."""
AUDIO_QUEUE = 1000
"""Audio frames waiting for the video at most (a stalled video drops the oldest)."""
EARLY_AUDIO = 64
"""Audio frames kept from before the first picture (placed once it arrives; older ones are dropped)."""
FLAP_LIMIT = 3
"""After this many consecutive one-GOP segments caused by changing parameter sets, only a size change rotates."""

Emit = Callable[..., None]


def length_prefixed(nals: tuple[bytes, ...]) -> bytes:
    """NAL units as an MP4 sample fragment (4-byte big-endian lengths)."""
    return b"".join(len(nal).to_bytes(4, "big") + nal for nal in nals)


class StreamRecorder:
    """Turns the access units of one RTSP connection into segments; runs on the ingest thread.

    ``emit(name, *args)`` forwards ``run_started``/``segment_closed``/``run_ended``
    (without the camera argument) and must not block; ``segment_closed`` comes
    with a second argument, the future that completes when the file is durable.
    """

    def __init__(self, *, camera: str, root: Path, video: VideoTrack, audio: AudioTrack | None,
                 segment_seconds: float, emit: Emit, last_run_key: int = 0, last_run_end: int = 0) -> None:
        self.camera, self.root, self.video, self.audio = camera, root, video, audio
        self.codec = video.codec
        self.target = int(segment_seconds * MEDIA_HZ)
        self.emit = emit
        self.last_run_key = last_run_key
        self.last_run_end = last_run_end
        self.timeline = MediaTimeline(frame_duration=video.frame_duration or 3600)
        self.wall = WallClock()
        self.audio_wall = WallClock()
        self.started = False
        self.prelude: list[tuple[bool, Any, int, int]] | None = []
        """(is video, unit, position, unwrapped audio timestamp) held until the run is anchored."""
        self._prelude_since = 0
        self.run_key: int | None = None
        self.seq = 0
        self.segment: SegmentWriter | None = None
        self.seg_start_pos = 0
        self.seg_target = self.target
        self.params: ParameterSets | None = video.params
        self.pending: tuple[AccessUnit, int] | None = None
        self.last_pos = 0
        self._flaps = 0
        self._size_only = False
        self._param_change = False
        self._no_params_logged = False
        self._held: AccessUnit | None = None
        """The last picture, held until the next shows whether more slices of it follow."""
        self._audio_rate = audio.clock_rate if audio is not None else 0
        self._audio_last_ts = -1
        self._audio_ts = 0
        """Unwrapped audio RTP timestamp of the last audio unit."""
        self._audio_base: tuple[int, int] | None = None
        """(position in the segment's audio clock, unwrapped RTP timestamp) of the segment's first audio unit."""
        self.last_audio = -1
        self._early_audio: list[tuple[AudioUnit, int, int]] = []
        self._sr_video: SenderReport | None = None
        self._sr_audio: SenderReport | None = None
        self._audio_queue: deque[tuple[AudioUnit, int, int]] = deque()
        """Placed audio frames waiting for the video to pass their position."""

    def attach_audio(self, audio: AudioTrack) -> None:
        """Record ``audio`` too (its SETUP succeeded); call before the first unit."""
        self.audio = audio
        self._audio_rate = audio.clock_rate

    # ------------------------------------------------------------------ units
    def on_video(self, unit: AccessUnit) -> None:
        """One picture, in arrival order.

        A unit with the timestamp of the one before holds more slices of the
        same picture (a camera that sets the RTP marker bit after each slice):
        the two are joined, or they would read as a zero timestamp step.
        """
        held = self._held
        if held is not None and unit.ts == held.ts:
            params = held.params if unit.params is None else (held.params or ()) + unit.params
            self._held = AccessUnit(held.ts, unit.recv_us, held.key or unit.key, held.data + unit.data, params,
                                    held.after_loss or unit.after_loss)
            return
        self._held = unit
        if held is not None:
            self._access_unit(held)

    def _flush_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._access_unit(held)

    def _access_unit(self, unit: AccessUnit) -> None:
        key = unit.key
        recv_us = unit.recv_us
        if not self.started:
            if not key:
                return
            self.started = True
            self._prelude_since = recv_us
        timeline = self.timeline
        prev_pos = timeline.last_pos
        jumps = timeline.jumps + timeline.wraps
        pos = timeline.position(unit.ts, recv_us)
        if timeline.jumps + timeline.wraps != jumps:
            log.info("camera %s: %s", self.camera, timeline.last_event)
        if prev_pos is not None and pos - prev_pos > MEDIA_HZ and not unit.after_loss:
            # Not a plain continuation: if the previous picture was sent long ago, the camera paused. (Not
            # after a loss: the pictures in between were dropped, the camera went on; the last picture kept
            # before the hole then lasts until this one.)
            silent = recv_us - self.wall.wall_at(prev_pos)
            if silent > GAP_US:
                self._gap(silent / 1e6)
        self.wall.observe(pos, recv_us)
        if self.prelude is not None:
            self.prelude.append((True, unit, pos, 0))
            if self._early_audio:
                early, self._early_audio = self._early_audio, []
                for item in early:
                    self._place_audio(*item)
            if recv_us - self._prelude_since >= ANCHOR_US or len(self.prelude) >= PRELUDE_MAX:
                self._anchor()
            return
        self._video(unit, pos)

    def on_audio(self, unit: AudioUnit) -> None:
        """One audio frame, placed on the video timeline by its receipt time (the lower envelope of both)."""
        last = self._audio_last_ts
        if last < 0:
            self._audio_ts = unit.ts
        else:
            step = (unit.ts - last) & 0xFFFFFFFF
            self._audio_ts += step - (1 << 32) if step >= 1 << 31 else step
        self._audio_last_ts = unit.ts
        media = self._audio_ts * MEDIA_HZ // self._audio_rate
        # A packet leaves the camera once its last sample was taken: its end is what receipt time bounds.
        self.audio_wall.observe(media + unit.samples * MEDIA_HZ // self._audio_rate, unit.recv_us)
        if not self.started:  # kept a little: the first picture is still on its way (or held back)
            early = self._early_audio
            early.append((unit, media, self._audio_ts))
            if len(early) > EARLY_AUDIO:
                del early[0]
            return
        self._place_audio(unit, media, self._audio_ts)

    def sender_report(self, video: bool, report: SenderReport) -> None:
        """The camera's RTCP sender report for the video or the audio track (maps both to one clock)."""
        if video:
            self._sr_video = report
        else:
            self._sr_audio = report

    def _place_audio(self, unit: AudioUnit, media: int, audio_ts: int) -> None:
        try:
            pos = media + us_to_90k(self.audio_wall.offset() - self.wall.offset())
        except RuntimeError:  # no video since a gap: nothing to place it against yet
            return
        synced = self._synced_position(unit.ts)
        if synced is not None and abs(synced - pos) <= SYNC_TRUST:
            pos = synced
        if self.prelude is not None:
            self.prelude.append((False, unit, pos, audio_ts))
        else:
            self._queue_audio(unit, pos, audio_ts)

    def _synced_position(self, audio_rtp: int) -> int | None:
        """The video position of an audio timestamp through both tracks' sender reports, if the camera sent them."""
        sr_audio, sr_video, timeline = self._sr_audio, self._sr_video, self.timeline
        if sr_audio is None or sr_video is None or timeline.offset is None:
            return None
        ntp = sr_audio.ntp_ticks(MEDIA_HZ) + signed32(audio_rtp - sr_audio.rtp) * MEDIA_HZ // self._audio_rate
        video_rtp = sr_video.rtp + ntp - sr_video.ntp_ticks(MEDIA_HZ)
        last = timeline.last_raw_dts
        return last + timeline.offset + signed32(video_rtp - last)

    def _queue_audio(self, unit: AudioUnit, pos: int, audio_ts: int) -> None:
        """Audio waits until the video has passed its position, so it lands in the segment its time belongs to."""
        queue = self._audio_queue
        queue.append((unit, pos, audio_ts))
        if len(queue) > AUDIO_QUEUE:
            queue.popleft()

    def _drain_audio(self, before: int) -> None:
        queue = self._audio_queue
        while queue and queue[0][1] < before:
            unit, pos, audio_ts = queue.popleft()
            self._audio(unit, pos, audio_ts)

    def finish(self, reason: str) -> None:
        """End the connection's current run: flush, close the open segment, report the run's end."""
        self._flush_held()
        if self.prelude:
            self._anchor()
        self.prelude = None
        if self.segment is not None:
            self._close(self.last_pos + self.timeline.frame_duration)
        self._end_run(reason)

    def abandon(self, reason: str) -> None:
        """After a write failure: keep the ``.part`` file as is and end the run at its last closed segment."""
        self.prelude = None
        self.pending = None
        self._held = None
        if self.segment is not None:
            self.segment.abandon()
            log.error("camera %s: segment %s abandoned (%s); its .part file is left for recovery",
                      self.camera, self.segment.relpath, reason)
            self.segment = None
        self._end_run(reason)

    # ------------------------------------------------------------------ internals
    def _gap(self, seconds: float) -> None:
        """The camera sent nothing for a while and its media time moved on: end the run before the gap."""
        log.info("camera %s: no video for %.1f s; the run ends before the gap", self.camera, seconds)
        if self.prelude:
            self._anchor()
        self.prelude = None
        if self.segment is not None:
            self._close(self.last_pos + self.timeline.frame_duration)
        self._end_run(f"no video for {seconds:.1f} s")
        self.wall.forget()
        self.audio_wall.forget()

    def _anchor(self) -> None:
        held, self.prelude = self.prelude or [], None
        for is_video, unit, pos, audio_ts in held:
            if is_video:
                self._video(unit, pos)
            else:
                self._queue_audio(unit, pos, audio_ts)

    def _video(self, unit: AccessUnit, pos: int) -> None:
        if self._audio_queue:
            self._drain_audio(pos)
        pending = self.pending
        segment = self.segment
        if pending is not None:
            self.pending = None
            self._write(segment, pending, pos - pending[1])  # type: ignore[arg-type]
        if unit.key:
            params = self._inband(unit)
            if segment is None:
                self._open(pos, params)
            elif self._must_rotate(pos, params):
                self._close(pos)
                self._open(pos, params)
        elif segment is not None and pos - self.seg_start_pos >= MAX_SEGMENT:
            log.warning("camera %s: no keyframe for %d s; ending the run", self.camera, MAX_SEGMENT // MEDIA_HZ)
            self._close(pos)
            self._end_run("no keyframe")
        segment = self.segment
        if segment is None:
            return  # waiting for a keyframe
        error = segment.jobs.error
        if error is not None:
            raise error
        self.pending = (unit, pos)
        self.last_pos = pos

    def _write(self, segment: SegmentWriter, pending: tuple[AccessUnit, int], duration: int) -> None:
        unit, pos = pending
        data = unit.data
        if unit.params is not None and unit.params != segment.params.nals:
            data = length_prefixed(unit.params) + data  # parameter sets the sample entry does not hold
        segment.write_video(data, pos - self.seg_start_pos, max(1, duration), unit.key)

    def _audio(self, unit: AudioUnit, pos: int, ts: int) -> None:
        segment = self.segment
        if segment is None or not segment.has_audio:
            return
        rel = pos - self.seg_start_pos
        if rel < 0:
            return  # before this segment: dropped
        base = self._audio_base
        if base is None:  # the segment's first audio frame sets its place; the rest follow their own clock
            base = self._audio_base = (rel * self._audio_rate // MEDIA_HZ, ts)
        at = base[0] + ts - base[1]
        if at <= self.last_audio:
            return  # not after the previous audio frame: dropped
        self.last_audio = at
        segment.write_audio(unit.data, at, unit.samples)

    def _inband(self, unit: AccessUnit) -> ParameterSets | None:
        nals = unit.params
        if nals is None:
            return None
        current = self.params
        if current is not None and current.nals == nals:
            return current
        return describe(self.codec, nals)

    def _must_rotate(self, pos: int, params: ParameterSets | None) -> bool:
        current = self.params
        self._param_change = False
        if params is not None and current is not None and params is not current:
            resized = (params.width, params.height) != (current.width, current.height)
            if resized or not self._size_only:
                log.info("camera %s: stream parameters changed at a keyframe (%sx%s -> %sx%s): new segment",
                         self.camera, current.width, current.height, params.width, params.height)
                self._param_change = True
                return True
        return pos - self.seg_start_pos >= self.seg_target

    def _start_run(self, pos: int) -> None:
        key = self.wall.start_run(pos)
        floor = max(self.last_run_key + 1, self.last_run_end)
        if key < floor:  # unique per camera, and never overlapping the previous run (clock step back)
            key = floor
            self.wall.seg_start_wall = key
        self.run_key = self.last_run_key = key
        self.seq = 0
        self.emit("run_started", key, key)

    def _open(self, pos: int, params: ParameterSets | None) -> None:
        if params is not None:
            self.params = params
        if self.params is None:
            if not self._no_params_logged:
                self._no_params_logged = True
                log.warning("camera %s: no parameter sets (SPS/PPS) yet, in the SDP or in band; waiting", self.camera)
            return
        if self.run_key is None:
            self._start_run(pos)
        assert self.run_key is not None
        relpath = segment_relpath(self.camera, from_utc_us(self.wall.seg_start_wall), self.run_key, self.seq)
        self.segment = SegmentWriter(self.root, relpath, self.video, self.params, self.audio)
        self.seg_start_pos = pos
        self.seg_target = first_target(self.camera, self.target) if self.seq == 0 else self.target
        self.last_audio = -1
        self._audio_base = None

    def _close(self, end_pos: int) -> None:
        if self._audio_queue:
            self._drain_audio(end_pos)
        segment, self.segment = self.segment, None
        assert segment is not None and self.run_key is not None
        pending, self.pending = self.pending, None
        if pending is not None:
            self._write(segment, pending, end_pos - pending[1])
        durable = segment.close()
        start_wall = self.wall.seg_start_wall
        end_wall, resync = self.wall.end_segment(end_pos, first=self.seq == 0)
        self._note_flap(segment.keyframes)
        self._param_change = False
        self.emit("segment_closed", ClosedSegment(
            camera=self.camera, run_key=self.run_key, seq=self.seq, relpath=segment.relpath,
            start_time=start_wall, end_time=end_wall, media_duration=end_pos - self.seg_start_pos,
            frames=segment.frames, keyframes=segment.keyframes, codec=self.codec, width=segment.width,
            height=segment.height, size_bytes=segment.size,
        ), durable)
        self.seq += 1
        if resync:
            log.warning("camera %s: media time and the wall clock disagree by more than 1 s; starting a new run",
                        self.camera)
            self._end_run("clock step")

    def _note_flap(self, keyframes: int) -> None:
        # A segment of a single GOP ended by a parameter change: count; too many in a row means the
        # camera varies its parameter sets at every keyframe, so only a real size change rotates.
        if self._param_change and keyframes <= 1:
            self._flaps += 1
            if self._flaps >= FLAP_LIMIT and not self._size_only:
                self._size_only = True
                log.warning("camera %s: parameter sets change at every keyframe; rotating only on size changes",
                            self.camera)
        else:
            self._flaps = 0

    def _end_run(self, reason: str) -> None:
        if self.run_key is None:
            return
        self.emit("run_ended", self.run_key, self.wall.seg_start_wall, reason)
        self.last_run_end = self.wall.seg_start_wall
        self.run_key = None
