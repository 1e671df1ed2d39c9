"""What a recorder tells the rest of nvr: its states, closed segments, runs, and the listener protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

STATES: Final[tuple[str, ...]] = (
    "connecting",   # opening the RTSP session
    "recording",    # packets are reaching disk
    "offline",      # connection refused, timed out, unreachable or closed by the camera (detail says which)
    "auth_failed",  # 401 (or 403) from the camera
    "not_found",    # 404: no stream at that path
    "stalled",      # connected, but no video packet for stall_timeout_s
    "error",        # anything else (detail says what)
    "stopped",      # stop() was called
)
"""Every value ``RecorderListener.state_changed`` may report."""


@dataclass(frozen=True, slots=True)
class ClosedSegment:
    """A segment file that is complete and durable (fsynced, renamed, folder fsynced).

    Times are wall-clock UTC microseconds; ``media_duration`` is in 90 kHz
    units. Within a run, ``start_time`` of segment ``seq + 1`` equals
    ``end_time`` of segment ``seq``.
    """

    camera: str
    run_key: int
    """The run's start time (UTC µs); unique per camera and part of every file name of the run."""
    seq: int
    relpath: str
    """Path relative to the storage root, POSIX form."""
    start_time: int
    end_time: int
    media_duration: int
    frames: int
    keyframes: int
    codec: str
    width: int | None
    height: int | None
    size_bytes: int


@dataclass(frozen=True, slots=True)
class RecorderStats:
    """A snapshot of one recorder's counters (cumulative since ``start()`` unless noted)."""

    frames: int
    """Video pictures (access units) received."""
    bytes: int
    """Bytes of media received (video and audio payload)."""
    bitrate_bps: float
    """Over the last few seconds."""
    fps: float
    """Over the last few seconds."""
    last_packet_at: int | None
    """Wall UTC µs of the last packet, or None before the first."""
    segments: int
    """Segments closed."""
    reconnects: int
    """Connection attempts after the first."""
    state: str
    detail: str | None
    lost_packets: int = 0
    """RTP packets that never arrived (sequence gaps)."""
    dropped_pictures: int = 0
    """Pictures not recorded because a packet of theirs, or of a picture they refer to, was lost."""


class RecorderListener(Protocol):
    """Receives a recorder's events on the event loop (``loop.call_soon_threadsafe``), in order.

    Implementations must not block; they may start tasks. An exception is
    logged and otherwise ignored: it never reaches the recorder. Events of a
    run arrive as ``run_started``, ``segment_closed``..., ``run_ended``.
    """

    def state_changed(self, camera: str, state: str, detail: str | None) -> None:
        """The recorder entered ``state`` (one of :data:`STATES`); ``detail`` is human text without secrets."""

    def segment_closed(self, seg: ClosedSegment) -> None:
        """A segment file is durable under ``seg.relpath`` and may be catalogued."""

    def run_started(self, camera: str, run_key: int, started_at_us: int) -> None:
        """A run began (``run_key == started_at_us``, the start of its first segment)."""

    def run_ended(self, camera: str, run_key: int, ended_at_us: int, reason: str) -> None:
        """A run ended at ``ended_at_us`` (its last segment's end, or its start if it has none)."""
