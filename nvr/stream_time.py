"""Stream time to wall time: unwrap and rebase decode timestamps, anchor runs to the wall clock, slew for drift."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

MEDIA_HZ = 90_000
"""Media positions and durations are in 90 kHz units (``nvr.models.MEDIA_TIMEBASE``)."""
WRAPS = (1 << 32, 1 << 33)
"""RTP timestamps wrap at 2**32, MPEG-TS ones at 2**33."""
MAX_SLEW = 0.005
"""At most 0.5 % between a segment's wall length and its media length."""
MAX_FIRST_SLEW = 0.2
"""The first segment of a run may shrink by up to 20 %: its start was anchored on the first packets,
which often arrive late (encoder start-up, connection buffering), so receipt times soon run earlier."""
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

    __slots__ = ("frame_duration", "ordinary", "tolerance", "offset", "last_raw", "last_raw_dts", "last_pos",
                 "last_recv_us", "jumps", "wraps", "last_event")

    def __init__(self, frame_duration: int = 3600, ordinary: int = MEDIA_HZ, tolerance: int = MEDIA_HZ) -> None:
        self.frame_duration = max(1, frame_duration)
        """Nominal frame interval; follows the last ordinary step."""
        self.ordinary = ordinary
        self.tolerance = tolerance
        self.offset: int | None = None
        """``position = unwrapped raw dts + offset``; None until a packet with a dts was seen."""
        self.last_raw: int | None = None
        """dts of the previous packet (None if it had none)."""
        self.last_raw_dts = 0
        """dts of the last packet that had one."""
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
                self.offset, self.last_raw, self.last_raw_dts = -raw, raw, raw
            return 0
        if raw is None:  # no dts: the frame cadence nearest to the wall time that passed
            self.last_raw = None
            pos = last_pos + self._cadence(recv_us)
        elif self.offset is None:  # the first packet had no dts: it sits one frame before this one
            pos = last_pos + self.frame_duration
            self.offset = pos - raw
        else:
            step = raw - self.last_raw_dts
            if 0 < step <= self.ordinary:
                pos = raw + self.offset
                if self.last_raw is not None:
                    self.frame_duration = step
                elif pos <= last_pos:  # packets without dts were placed too late: keep order
                    pos = last_pos + 1
                    self.offset = pos - raw
            else:
                pos = self._discontinuity(step, last_pos, recv_us)
                self.offset = pos - raw
        if raw is not None:
            self.last_raw = self.last_raw_dts = raw
        self.last_pos, self.last_recv_us = pos, recv_us
        return pos

    def _cadence(self, recv_us: int) -> int:
        elapsed = us_to_90k(max(0, recv_us - self.last_recv_us))
        return max(1, round(elapsed / self.frame_duration)) * self.frame_duration

    def _discontinuity(self, step: int, last_pos: int, recv_us: int) -> int:
        limit = max(self.ordinary, us_to_90k(max(0, recv_us - self.last_recv_us)) + self.tolerance)
        base = self.last_raw_dts + self.offset  # type: ignore[operator]  # position of the last packet with a dts
        if 0 < step <= limit:
            return max(base + step, last_pos + 1)  # the camera paused and its timestamps say so
        for wrap in WRAPS:
            if 0 < step + wrap <= limit:
                self.wraps += 1
                self.last_event = f"timestamp wrap at 2**{wrap.bit_length() - 1}"
                return max(base + step + wrap, last_pos + 1)
        self.jumps += 1
        self.last_event = f"timestamp jump of {step / MEDIA_HZ:+.3f} s rebased"
        return last_pos + self._cadence(recv_us)


class WallClock:
    """Wall-clock times (UTC µs) of a connection's segments, contiguous within a run.

    ``observe(pos, recv_us)`` for every packet keeps the lower envelope of
    ``receipt time - media position`` over the last two to four seconds of
    media: packets cannot arrive before they are sent, so the minimum is the
    best estimate of the wall time of media position 0 (it ignores network
    jitter and packets that were buffered during connection setup), and a
    short window keeps it current when the camera's clock drifts.
    """

    __slots__ = ("max_slew", "resync_us", "window", "_cur", "_prev", "_window_end", "_last",
                 "seg_start_pos", "seg_start_wall")

    def __init__(self, max_slew: float = MAX_SLEW, resync_us: int = RESYNC_US, window: int = 2 * MEDIA_HZ) -> None:
        self.max_slew = max_slew
        self.resync_us = resync_us
        self.window = window
        self._cur: int | None = None
        self._prev: int | None = None
        self._window_end = 0
        self._last: int | None = None
        self.seg_start_pos = 0
        self.seg_start_wall = 0

    def observe(self, pos: int, recv_us: int) -> None:
        """Record that media position ``pos`` was received at ``recv_us``."""
        off = recv_us - pos * 100 // 9
        if self._cur is None or pos >= self._window_end:
            self._prev, self._cur = self._cur, off
            self._window_end = pos + self.window
        elif off < self._cur:
            self._cur = off

    def forget(self) -> None:
        """Drop every observation (after a gap the old ones say nothing about the new run)."""
        self._cur = self._prev = self._last = None
        self._window_end = 0

    def offset(self) -> int:
        """Current estimate of ``wall - media`` (µs)."""
        cur, prev = self._cur, self._prev
        if cur is None:
            if self._last is None:
                raise RuntimeError("no packet observed yet")
            return self._last
        self._last = off = cur if prev is None or cur < prev else prev
        return off

    def wall_at(self, pos: int) -> int:
        """Receipt-based estimate of the wall time of media position ``pos``."""
        return ticks_to_us(pos) + self.offset()

    def start_run(self, pos: int) -> int:
        """Begin a run whose first segment starts at ``pos``; return its wall start time."""
        self.seg_start_pos = pos
        self.seg_start_wall = self.wall_at(pos)
        return self.seg_start_wall

    def end_segment(self, end_pos: int, first: bool = False) -> tuple[int, bool]:
        """Wall end time of the segment ``[seg_start_pos, end_pos)`` and whether a new run must start.

        The end is the media length after the start, moved toward the
        receipt-based estimate by at most ``max_slew`` of the media length
        (``MAX_FIRST_SLEW`` for a run's first segment when its start was
        anchored too late). If more than ``resync_us`` of disagreement remains,
        the end stays at the media length and the second value is True: the
        caller starts a new run.
        Otherwise the next segment starts where this one ends.
        """
        media_us = ticks_to_us(end_pos - self.seg_start_pos)
        natural = self.seg_start_wall + media_us
        error = self.wall_at(end_pos) - natural
        slew = MAX_FIRST_SLEW if first and error < 0 else self.max_slew
        limit = int(media_us * slew)
        correction = max(-limit, min(limit, error))
        resync = abs(error - correction) > self.resync_us
        end = natural if resync else natural + correction
        end = max(end, self.seg_start_wall + 1)
        self.seg_start_pos, self.seg_start_wall = end_pos, end
        return end, resync
