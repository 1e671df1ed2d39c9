"""One connection's packets to runs of contiguous segments: anchoring, rotation, parameter changes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from av.packet import Packet
from av.stream import Stream

from nvr.clock import from_utc_us
from nvr.parameter_sets import ParameterSets, describe, from_annexb, has_slice, parameter_nals
from nvr.recorder_events import ClosedSegment
from nvr.segment_writer import SegmentWriter, first_target
from nvr.storage.layout import segment_relpath
from nvr.stream_time import MEDIA_HZ, MediaTimeline, WallClock

log = logging.getLogger(__name__)

ANCHOR_US = 400_000
"""Packets are held this long (receipt time) after the first keyframe before the run is anchored to the wall clock."""
PRELUDE_MAX = 400
"""...or until this many packets are held (the demuxer may hand over a second or more of buffered packets at once)."""
MAX_SEGMENT = 50 * 60 * MEDIA_HZ
"""No segment grows past 50 min of media (the catalog refuses an hour): without a keyframe, the run ends."""
GAP_US = 2_000_000
"""A packet without dts (or over a second of media after the previous one) that arrives this long after the
previous frame was sent marks a gap: the camera paused, and the run ends before the pause."""
CARRY_MAX = 1 << 16
"""Parameter-set-only packets held for the next picture (beyond this they are dropped)."""
FLAP_LIMIT = 3
"""After this many consecutive one-GOP segments caused by changing parameter sets, only a size change rotates."""

Emit = Callable[..., None]


def _to_90k(stream: Stream) -> tuple[int, int] | None:
    tb = stream.time_base
    if tb is None or (tb.numerator == 1 and tb.denominator == MEDIA_HZ):
        return None
    return tb.numerator * MEDIA_HZ, tb.denominator


SMALL_PACKET = 1024
"""Only packets up to this size are checked for a missing slice (a copy and a scan; big ones always have one)."""


class StreamRecorder:
    """Turns the packets of one RTSP connection into segments; blocking, used by one recorder thread.

    ``emit(name, *args)`` forwards ``run_started``/``segment_closed``/``run_ended``
    (without the camera argument) and must not block.
    """

    def __init__(self, *, camera: str, root: Path, video: Stream, audio: Stream | None, segment_seconds: float,
                 emit: Emit, last_run_key: int = 0, last_run_end: int = 0) -> None:
        self.camera, self.root, self.video, self.audio = camera, root, video, audio
        self.codec = video.codec_context.name
        self.target = int(segment_seconds * MEDIA_HZ)
        self.emit = emit
        self.last_run_key = last_run_key
        self.last_run_end = last_run_end
        self._vscale = _to_90k(video)
        self._ascale = _to_90k(audio) if audio is not None else None
        frame = 3600
        rate = video.average_rate or video.guessed_rate
        if rate:
            frame = max(1, round(MEDIA_HZ / rate))
        self.timeline = MediaTimeline(frame_duration=frame)
        self.wall = WallClock()
        self.started = False
        self.prelude: list[tuple[Any, ...]] | None = []
        self._prelude_since = 0
        self.run_key: int | None = None
        self.seq = 0
        self.segment: SegmentWriter | None = None
        self.seg_start_pos = 0
        self.seg_target = self.target
        self.params: ParameterSets | None = from_annexb(self.codec, video.codec_context.extradata)
        self.pending: tuple[Packet, int, int, bool] | None = None
        self.last_pos = 0
        self.last_audio = -1
        self._flaps = 0
        self._size_only = False
        self._param_change = False
        self._carry = b""
        self._held: tuple[Packet, int] | None = None
        """The last packet, held until the next shows whether more slices of its picture follow."""

    # ------------------------------------------------------------------ packets
    def on_video(self, packet: Packet, recv_us: int) -> None:
        """One video packet, in arrival order.

        Packets with the dts of the one before are more slices of the same
        picture (encoders with sliced threads, e.g. x264 tuned for zero
        latency, whose RTP marker bits split a picture): they are joined into
        one access unit, or they would read as zero timestamp steps.
        """
        held = self._held
        if held is not None and packet.dts is not None and packet.dts == held[0].dts:
            self._held = (_join(held[0], packet), held[1])
            return
        self._held = (packet, recv_us)
        if held is not None:
            self._access_unit(*held)

    def _flush_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._access_unit(*held)

    def _access_unit(self, packet: Packet, recv_us: int) -> None:
        key = packet.is_keyframe
        if (key or packet.size <= SMALL_PACKET) and not has_slice(self.codec, memoryview(packet)):
            # Parameter sets (or SEI) on their own, e.g. GStreamer's config-interval, flagged as a
            # keyframe or not: they belong to the next picture and carry its dts. Counted as a frame
            # they would read as a zero timestamp step and push media time ahead by a frame per GOP.
            self._carry = (self._carry if len(self._carry) < CARRY_MAX else b"") + bytes(packet)
            return
        if self._carry:
            packet = self._glue(packet)
        if not self.started:
            if not key:
                return
            self.started = True
            self._prelude_since = recv_us
        dts, pts = packet.dts, packet.pts
        if self._vscale is not None:
            num, den = self._vscale
            dts = None if dts is None else dts * num // den
            pts = None if pts is None else pts * num // den
        timeline = self.timeline
        prev_pos = timeline.last_pos
        jumps = timeline.jumps + timeline.wraps
        pos = timeline.position(dts, recv_us)
        if timeline.jumps + timeline.wraps != jumps:
            log.info("camera %s: %s", self.camera, timeline.last_event)
        if prev_pos is not None and (dts is None or pos - prev_pos > MEDIA_HZ):
            # Not a plain continuation: if the previous frame was sent long ago, the camera paused.
            silent = recv_us - self.wall.wall_at(prev_pos)
            if silent > GAP_US:
                self._gap(silent / 1e6)
        shift = pts - dts if pts is not None and dts is not None and pts > dts else 0
        self.wall.observe(pos, recv_us)
        if self.prelude is not None:
            self.prelude.append((True, packet, pos, shift, key))
            if recv_us - self._prelude_since >= ANCHOR_US or len(self.prelude) >= PRELUDE_MAX:
                self._anchor()
            return
        self._video(packet, pos, shift, key)

    def on_audio(self, packet: Packet, recv_us: int) -> None:
        """One audio packet; placed on the video timeline through the demuxer's common clock."""
        offset, dts = self.timeline.offset, packet.dts
        if offset is None or dts is None:
            return
        duration = packet.duration or 0
        if self._ascale is not None:
            num, den = self._ascale
            dts, duration = dts * num // den, duration * num // den
        pos = dts + offset
        if self.prelude is not None:
            self.prelude.append((False, packet, pos, duration, False))
        else:
            self._audio(packet, pos, duration)

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
    def _glue(self, packet: Packet) -> Packet:
        glued = Packet(self._carry + bytes(packet))
        self._carry = b""
        glued.time_base, glued.dts, glued.pts = packet.time_base, packet.dts, packet.pts
        glued.is_keyframe = packet.is_keyframe
        return glued

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

    def _anchor(self) -> None:
        held, self.prelude = self.prelude or [], None
        for is_video, packet, pos, extra, key in held:
            if is_video:
                self._video(packet, pos, extra, key)
            else:
                self._audio(packet, pos, extra)

    def _video(self, packet: Packet, pos: int, shift: int, key: bool) -> None:
        pending = self.pending
        if pending is not None:
            self.pending = None
            ppacket, ppos, pshift, pkey = pending
            rel = ppos - self.seg_start_pos
            self.segment.write_video(ppacket, rel, rel + pshift, pos - ppos, pkey)  # type: ignore[union-attr]
        if key:
            params = self._inband(packet)
            if self.segment is None:
                self._open(pos, params)
            elif self._must_rotate(pos, params):
                self._close(pos)
                self._open(pos, params)
        elif self.segment is not None and pos - self.seg_start_pos >= MAX_SEGMENT:
            log.warning("camera %s: no keyframe for %d s; ending the run", self.camera, MAX_SEGMENT // MEDIA_HZ)
            self._close(pos)
            self._end_run("no keyframe")
        if self.segment is None:
            return  # waiting for a keyframe
        self.pending = (packet, pos, shift, key)
        self.last_pos = pos

    def _audio(self, packet: Packet, pos: int, duration: int) -> None:
        if self.segment is None:
            return
        rel = pos - self.seg_start_pos
        if rel < 0 or rel <= self.last_audio:
            return  # before this segment, or not after the previous audio packet: dropped
        self.last_audio = rel
        self.segment.write_audio(packet, rel, duration)

    def _inband(self, packet: Packet) -> ParameterSets | None:
        nals = parameter_nals(self.codec, memoryview(packet))
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
        if self.run_key is None:
            self._start_run(pos)
        if params is not None:
            self.params = params
        relpath = segment_relpath(self.camera, from_utc_us(self.wall.seg_start_wall), self.run_key, self.seq)
        self.segment = SegmentWriter(self.root, relpath, self.video, self.params, self.audio)
        self.seg_start_pos = pos
        self.seg_target = first_target(self.camera, self.target) if self.seq == 0 else self.target
        self.last_audio = -1

    def _close(self, end_pos: int) -> None:
        segment, self.segment = self.segment, None
        assert segment is not None and self.run_key is not None
        pending, self.pending = self.pending, None
        if pending is not None:
            ppacket, ppos, pshift, pkey = pending
            rel = ppos - self.seg_start_pos
            segment.write_video(ppacket, rel, rel + pshift, max(1, end_pos - ppos), pkey)
        size = segment.close()
        start_wall = self.wall.seg_start_wall
        end_wall, resync = self.wall.end_segment(end_pos, first=self.seq == 0)
        self._note_flap(segment.keyframes)
        self._param_change = False
        self.emit("segment_closed", ClosedSegment(
            camera=self.camera, run_key=self.run_key, seq=self.seq, relpath=segment.relpath,
            start_time=start_wall, end_time=end_wall, media_duration=end_pos - self.seg_start_pos,
            frames=segment.frames, keyframes=segment.keyframes, codec=self.codec, width=segment.width,
            height=segment.height, size_bytes=size,
        ))
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


def _join(first: Packet, more: Packet) -> Packet:
    """One packet holding both slices' bytes, with the first one's timing."""
    joined = Packet(bytes(first) + bytes(more))
    joined.time_base, joined.dts, joined.pts = first.time_base, first.dts, first.pts
    joined.is_keyframe = first.is_keyframe or more.is_keyframe
    return joined
