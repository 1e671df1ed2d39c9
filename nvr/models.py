"""Plain dataclasses shared across nvr: cameras, runs, segments, users, sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, NamedTuple

from nvr.clock import from_utc_us

__all__ = [
    "MEDIA_TIMEBASE",
    "ROLES",
    "SEGMENT_STATES",
    "CameraRecord",
    "CameraUsage",
    "Hold",
    "Role",
    "Run",
    "Segment",
    "SegmentSpan",
    "SegmentState",
    "Session",
    "User",
]

MEDIA_TIMEBASE: Final = 90_000
"""Units per second of ``Segment.media_duration`` (the 90 kHz RTP video clock)."""

Role = Literal["admin", "investigator", "operator", "viewer", "duty_officer", "kelurahan_viewer"]
ROLES: Final[tuple[str, ...]] = ("admin", "investigator", "operator", "viewer", "duty_officer", "kelurahan_viewer")
"""Highest first; ``investigator`` (exports evidence) ranks between operator and admin. The kelurahan roles
(``duty_officer`` ranks as operator, ``kelurahan_viewer`` as viewer) must be bound to a kelurahan or kecamatan."""
SCOPED_ROLES: Final[tuple[str, ...]] = ("duty_officer", "kelurahan_viewer")
"""Roles that only exist with a scope: a kelurahan, or ``kecamatan:<name>``."""

SegmentState = Literal["ok", "garbage"]
SEGMENT_STATES: Final[tuple[str, ...]] = ("ok", "garbage")


@dataclass(frozen=True, slots=True)
class CameraRecord:
    """The catalog's record of a camera that has (or had) footage.

    Configuration stays the source of truth for camera settings; this row
    exists so footage keeps a name and location after a camera is removed.
    All timestamps are UTC microseconds since the epoch.
    """

    id: int
    name: str
    kelurahan: str | None
    kecamatan: str | None
    lat: float | None
    lon: float | None
    created_at: int
    updated_at: int
    removed_at: int | None = None

    @property
    def removed(self) -> bool:
        """True once the camera has been removed from the configuration."""
        return self.removed_at is not None


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive segments recorded over one connection to a camera."""

    id: int
    camera_id: int
    started_at: int
    ended_at: int | None = None
    reason_ended: str | None = None

    @property
    def is_open(self) -> bool:
        """True while the run has not been ended."""
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class Segment:
    """One recorded media file.

    ``start_time``/``end_time`` are wall-clock UTC microseconds;
    ``media_duration`` is in 90 kHz units (see ``MEDIA_TIMEBASE``); ``path`` is
    relative to the storage root.
    """

    id: int
    camera_id: int
    run_id: int
    seq: int
    start_time: int
    end_time: int
    media_duration: int
    path: str
    size_bytes: int
    sha256: str
    frames: int
    keyframes: int
    codec: str
    width: int | None
    height: int | None
    state: SegmentState
    created_at: int

    @property
    def duration_s(self) -> float:
        """Media duration in seconds (how long the file plays)."""
        return self.media_duration / MEDIA_TIMEBASE

    @property
    def wall_duration_us(self) -> int:
        """Wall-clock span ``end_time - start_time`` in microseconds."""
        return self.end_time - self.start_time

    @property
    def wall_duration_s(self) -> float:
        """Wall-clock span in seconds."""
        return self.wall_duration_us / 1_000_000

    @property
    def start(self) -> datetime:
        """``start_time`` as an aware UTC datetime."""
        return from_utc_us(self.start_time)

    @property
    def end(self) -> datetime:
        """``end_time`` as an aware UTC datetime."""
        return from_utc_us(self.end_time)

    @property
    def is_garbage(self) -> bool:
        """True once the segment is marked for deletion."""
        return self.state == "garbage"


@dataclass(frozen=True, slots=True)
class User:
    """A web user. ``kelurahan`` limits what they see; ``None`` means everything."""

    id: int
    username: str
    password_hash: str
    role: Role
    kelurahan: str | None
    created_at: int
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    """A login session; the catalog stores only a hash of the cookie token."""

    token_hash: str
    user_id: int
    csrf_token: str
    created_at: int
    expires_at: int
    last_seen_at: int

    def is_expired(self, now_us: int) -> bool:
        """True if the session has expired at ``now_us``."""
        return now_us >= self.expires_at


@dataclass(frozen=True, slots=True)
class Hold:
    """A request to keep footage overlapping ``[start_time, end_time)`` whatever retention says.

    ``camera_id``/``camera_name`` are ``None`` for a hold on every camera.
    ``expires_at`` ``None`` means until released. All times are UTC µs.
    """

    id: int
    camera_id: int | None
    camera_name: str | None
    start_time: int
    end_time: int
    reason: str
    created_by: str | None
    created_at: int
    expires_at: int | None = None
    released_at: int | None = None

    def is_active(self, now_us: int) -> bool:
        """True if the hold is neither released nor expired at ``now_us``."""
        if self.released_at is not None and self.released_at <= now_us:
            return False
        return self.expires_at is None or now_us < self.expires_at

    def covers(self, camera_name: str, start_us: int, end_us: int) -> bool:
        """True if the hold applies to ``camera_name`` and overlaps ``[start_us, end_us)`` (touching is not)."""
        if self.camera_name is not None and self.camera_name != camera_name:
            return False
        return start_us < self.end_time and end_us > self.start_time


@dataclass(frozen=True, slots=True)
class CameraUsage:
    """How much ``ok`` footage one camera has: count, bytes, oldest start and newest end (UTC µs)."""

    camera_id: int
    camera: str
    segments: int
    bytes: int
    oldest_start: int | None
    newest_end: int | None


class SegmentSpan(NamedTuple):
    """The few columns of a segment a retention sweep needs; a tuple, cheap to build by the hundred thousand."""

    id: int
    camera_id: int
    start_time: int
    end_time: int
    size_bytes: int
    path: str


@dataclass(frozen=True, slots=True)
class Event:
    """Something analysis found: a tracked object (``kind`` "object") or an emergency rule that fired.

    Times are UTC µs; ``end_us`` is the last time the object (or the rule's
    condition) was seen, final once ``ongoing`` is False. ``box`` is the best
    detection's box, normalised ``(x0, y0, x1, y1)``. The recording that shows
    the event is ``[start_us - pre_roll_us, end_us + post_roll_us)``.
    """

    id: int
    camera: str
    kind: str
    label: str
    score: float
    start_us: int
    end_us: int
    ongoing: bool = True
    track_id: int | None = None
    box: tuple[float, float, float, float] | None = None
    zones: tuple[str, ...] = ()
    severity: str = "info"
    agency: str | None = None
    rule: str | None = None
    has_snapshot: bool = False
    pre_roll_us: int = 0
    post_roll_us: int = 0
    acknowledged_at: int | None = None
    acknowledged_by: str | None = None
    ack_note: str | None = None

    @property
    def footage(self) -> tuple[int, int]:
        """The recording time range that shows the event, pre- and post-roll included."""
        return self.start_us - self.pre_roll_us, self.end_us + self.post_roll_us
