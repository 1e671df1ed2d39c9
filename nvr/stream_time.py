"""Stream time to wall time: unwrap and rebase decode timestamps, anchor a run to the wall clock, slew for drift.

See ``docs/design/time.md``. Two pure classes, fed by the recorder thread:

* :class:`MediaTimeline` turns a stream's decode timestamps (90 kHz) into a
  continuous *media position* for one connection: 32/33-bit wraps are
  unwrapped, jumps (a step that neither the frame cadence nor the wall time
  that passed explains) are rebased so media time stays continuous, and a
  missing dts is filled in.
* :class:`WallClock` maps media positions to wall-clock UTC microseconds, one
  segment at a time, so that consecutive segments of a run are exactly
  contiguous; each segment's wall length is its media length slewed by at
  most ``max_slew`` toward the receipt-time estimate, and an error beyond
  ``resync_us`` asks the caller to start a new run.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

MEDIA_HZ = 90_000
"""Media positions and durations are in 90 kHz units (``nvr.models.MEDIA_TIMEBASE``)."""
WRAPS = (1 << 32, 1 << 33)
"""RTP timestamps wrap at 2**32, MPEG-TS ones at 2**33."""
MAX_SLEW = 0.005
"""At most 0.5 % between a segment's wall length and its media length."""
RESYNC_US = 1_000_000
"""Beyond 1 s of disagreement between media-derived and receipt-derived wall time, start a new run."""


def us_to_90k(us: int) -> int:
    """Microseconds to 90 kHz ticks (rounded down)."""
    return us * 9 // 100


def ticks_to_us(ticks: int) -> int:
    """90 kHz ticks to microseconds (rounded down)."""
    return ticks * 100 // 9


class MediaTimeline:
    """Continuous media position (90 kHz) of one connection's video packets.

    ``position(raw, recv_us)`` is called once per packet, in arrival order,
    with the packet's dts in 90 kHz units (``None`` if the demuxer gave none)
    and the wall time it was received. The first packet is position 0.

    A step from the previous dts is taken as it is when it is positive and at
    most ``ordinary`` (1 s), or when about as much wall time passed (a real
    pause in the stream). A negative step that a 2**32 or 2**33 wrap explains
    is unwrapped. Anything else is a jump: media time goes on at the frame
    cadence nearest to the wall time that passed, and later packets keep the
    new offset.
    """

    __slots__ = ("frame_duration", "ordinary", "tolerance", "offset", "last_raw", "last_pos", "last_recv_us",
                 "jumps", "wraps", "last_event")

    def __init__(self, frame_duration: int = 3600, ordinary: int = MEDIA_HZ, tolerance: int = MEDIA_HZ) -> None:
        self.frame_duration = max(1, frame_duration)
        """Nominal frame interval; follows the last ordinary step."""
        self.ordinary = ordinary
        self.tolerance = tolerance
        self.offset: int | None = None
        """``position = unwrapped raw dts + offset``; None until a packet with a dts was seen."""
        self.last_raw: int | None = None
        self.last_pos: int | None = None
        self.last_recv_us = 0
        self.jumps = 0
        self.wraps = 0
        self.last_event: str | None = None

    def position(self, raw: int | None, recv_us: int) -> int:
        """Media position of the next packet."""
        last_pos = self.last_pos
        if last_pos is None:  # first packet of the connection
            self.last_pos, self.last_recv_us = 0, recv_us
            if raw is not None:
                self.offset, self.last_raw = -raw, raw
            return 0
        if raw is None:  # no dts: the frame cadence nearest to the wall time that passed
            pos = last_pos + self._cadence(recv_us)
        elif self.offset is None:  # the first packet had no dts: it sits one frame before this one
            pos = last_pos + self.frame_duration
            self.offset = pos - raw
        else:
            step = raw - self.last_raw  # type: ignore[operator]
            if 0 < step <= self.ordinary:
                pos = last_pos + step
                self.frame_duration = step
            else:
                pos = self._discontinuity(step, last_pos, recv_us)
                self.offset = pos - raw
        if raw is not None:
            self.last_raw = raw
        self.last_pos, self.last_recv_us = pos, recv_us
        return pos

    def _cadence(self, recv_us: int) -> int:
        elapsed = us_to_90k(max(0, recv_us - self.last_recv_us))
        return max(1, round(elapsed / self.frame_duration)) * self.frame_duration

    def _discontinuity(self, step: int, last_pos: int, recv_us: int) -> int:
        limit = max(self.ordinary, us_to_90k(max(0, recv_us - self.last_recv_us)) + self.tolerance)
        if 0 < step <= limit:
            return last_pos + step  # the camera paused and its timestamps say so
        for wrap in WRAPS:
            if 0 < step + wrap <= limit:
                self.wraps += 1
                self.last_event = f"timestamp wrap at 2**{wrap.bit_length() - 1}"
                return last_pos + step + wrap
        self.jumps += 1
        self.last_event = f"timestamp jump of {step / MEDIA_HZ:+.3f} s rebased"
        return last_pos + self._cadence(recv_us)


class WallClock:
    """Wall-clock times (UTC µs) of a connection's segments, contiguous within a run.

    ``observe(pos, recv_us)`` for every packet keeps the lower envelope of
    ``receipt time - media position`` since the last segment boundary: packets
    cannot arrive before they are sent, so the minimum is the best estimate of
    the wall time of media position 0 (it ignores network jitter and packets
    that were buffered during connection setup).
    """

    __slots__ = ("max_slew", "resync_us", "_min_off", "_last_off", "seg_start_pos", "seg_start_wall")

    def __init__(self, max_slew: float = MAX_SLEW, resync_us: int = RESYNC_US) -> None:
        self.max_slew = max_slew
        self.resync_us = resync_us
        self._min_off: int | None = None
        self._last_off: int | None = None
        self.seg_start_pos = 0
        self.seg_start_wall = 0

    def observe(self, pos: int, recv_us: int) -> None:
        """Record that media position ``pos`` was received at ``recv_us``."""
        off = recv_us - pos * 100 // 9
        if self._min_off is None or off < self._min_off:
            self._min_off = off

    def forget(self) -> None:
        """Drop every observation (after a gap the old ones say nothing about the new run)."""
        self._min_off = self._last_off = None

    def offset(self) -> int:
        """Current estimate of ``wall - media`` (µs); requires at least one observation."""
        off = self._min_off if self._min_off is not None else self._last_off
        if off is None:
            raise RuntimeError("no packet observed yet")
        return off

    def wall_at(self, pos: int) -> int:
        """Receipt-based estimate of the wall time of media position ``pos``."""
        return ticks_to_us(pos) + self.offset()

    def start_run(self, pos: int) -> int:
        """Begin a run whose first segment starts at ``pos``; return its wall start time."""
        self.seg_start_pos = pos
        self.seg_start_wall = self.wall_at(pos)
        return self.seg_start_wall

    def end_segment(self, end_pos: int) -> tuple[int, bool]:
        """Wall end time of the segment ``[seg_start_pos, end_pos)`` and whether a new run must start.

        The next segment starts where this one ends (same run) unless the
        second value is True.
        """
        media_us = ticks_to_us(end_pos - self.seg_start_pos)
        natural = self.seg_start_wall + media_us
        error = self.wall_at(end_pos) - natural
        resync = abs(error) > self.resync_us
        if resync:
            end = natural
        else:
            limit = int(media_us * self.max_slew)
            end = natural + max(-limit, min(limit, error))
        end = max(end, self.seg_start_wall + 1)
        if self._min_off is not None:
            self._last_off = self._min_off
        self._min_off = None
        self.seg_start_pos, self.seg_start_wall = end_pos, end
        return end, resync

    def error_at(self, pos: int) -> int:
        """How far (µs) the receipt-based estimate of ``pos`` is ahead of the unslewed media-based one."""
        return self.wall_at(pos) - (self.seg_start_wall + ticks_to_us(pos - self.seg_start_pos))
