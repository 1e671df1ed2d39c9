"""The catalog interface: what footage exists and where, behind an async ABC."""

from __future__ import annotations

import abc
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Self

from nvr.clock import Clock
from nvr.errors import CatalogError
from nvr.models import ROLES, SCOPED_ROLES, CameraRecord, CameraUsage, Hold, Run, Segment, SegmentSpan, Session, User
from nvr.storage.adopted_catalog import AdoptedCatalog
from nvr.storage.complaints_catalog import ComplaintsCatalog
from nvr.storage.events_catalog import EventsCatalog
from nvr.storage.exports_catalog import ExportsCatalog
from nvr.storage.kelurahan_catalog import KelurahanCatalog
from nvr.storage.nodes_catalog import NodesCatalog
from nvr.storage.plates_catalog import PlatesCatalog
from nvr.storage.tokens_catalog import TokensCatalog

if TYPE_CHECKING:
    from nvr.storage.migrations import Migration

__all__ = [
    "MAX_SEGMENT_WALL_US",
    "Catalog",
    "CatalogError",
    "open_catalog",
    "validate_new_segment",
    "validate_role",
]

log = logging.getLogger(__name__)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

MAX_SEGMENT_WALL_US = 3600 * 1_000_000
"""Longest wall-clock span one segment may cover; bounds the time-window index scan."""


class Catalog(NodesCatalog, AdoptedCatalog, TokensCatalog, EventsCatalog, ExportsCatalog, PlatesCatalog,
              KelurahanCatalog, ComplaintsCatalog, abc.ABC):
    """Async catalog of cameras, runs, segments, users, sessions and meta values.

    Every method does its I/O off the event loop. Timestamps are integer UTC
    microseconds since the epoch; ``media_duration`` is in 90 kHz units.
    Query methods given an unknown camera name return empty results; write
    methods raise ``CatalogError``. Use as ``async with await open_catalog(url)
    as cat:`` or call ``close()`` yourself.
    """

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the connection and worker; further calls raise ``CatalogError``."""

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """Return the highest applied migration number."""

    # -- cameras -----------------------------------------------------------

    @abc.abstractmethod
    async def upsert_camera(
        self,
        name: str,
        kelurahan: str | None = None,
        kecamatan: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
    ) -> CameraRecord:
        """Create or update the camera ``name`` with exactly these values.

        Clears ``removed_at`` (a re-added camera is live again); bumps
        ``updated_at`` only when something changed.
        """

    @abc.abstractmethod
    async def get_camera(self, name: str) -> CameraRecord | None:
        """Return the camera called ``name``, or ``None``."""

    @abc.abstractmethod
    async def list_cameras(self, include_removed: bool = True) -> list[CameraRecord]:
        """Return cameras ordered by name."""

    @abc.abstractmethod
    async def mark_camera_removed(self, name: str) -> CameraRecord:
        """Record that ``name`` left the configuration (its footage stays).

        Idempotent: an already removed camera keeps its first ``removed_at``.
        """

    # -- runs --------------------------------------------------------------

    @abc.abstractmethod
    async def start_run(self, camera_name: str, started_at_us: int) -> Run:
        """Open a new run; the camera must exist, not be removed, and have no open run."""

    @abc.abstractmethod
    async def end_run(self, run_id: int, ended_at_us: int, reason: str) -> Run:
        """Close an open run; ``ended_at_us`` may not precede its start or last segment."""

    @abc.abstractmethod
    async def get_run(self, run_id: int) -> Run | None:
        """Return run ``run_id``, or ``None``."""

    @abc.abstractmethod
    async def open_runs(self) -> list[Run]:
        """Return runs that have not ended (after a crash: the ones to close)."""

    # -- segments ----------------------------------------------------------

    @abc.abstractmethod
    async def add_segment(
        self,
        *,
        run_id: int,
        start_time: int,
        end_time: int,
        media_duration: int,
        path: str,
        size_bytes: int,
        sha256: str,
        frames: int,
        keyframes: int,
        codec: str,
        width: int | None = None,
        height: int | None = None,
        seq: int | None = None,
    ) -> Segment:
        """Record a segment whose file is already fsynced; return it (state ``ok``).

        The run must be open. ``seq`` defaults to one past the run's last
        segment (0 for the first). Raises ``CatalogError`` if the times are not
        ordered, the segment overlaps the run's previous one, or the fields are
        invalid (see ``validate_new_segment``).
        """

    @abc.abstractmethod
    async def get_segment(self, segment_id: int) -> Segment | None:
        """Return segment ``segment_id`` in any state, or ``None``."""

    @abc.abstractmethod
    async def segment_by_path(self, path: str) -> Segment | None:
        """Return the segment stored at ``path`` (relative), or ``None``."""

    @abc.abstractmethod
    async def segments(self, camera_name: str, start_us: int, end_us: int) -> list[Segment]:
        """Return ``ok`` segments overlapping ``[start_us, end_us)``, ordered by start time."""

    @abc.abstractmethod
    async def latest_segment(self, camera_name: str) -> Segment | None:
        """Return the camera's ``ok`` segment with the latest start time, or ``None``."""

    @abc.abstractmethod
    async def mark_segment_garbage(self, ids: Iterable[int]) -> int:
        """Phase 1 of deletion: mark segments ``garbage``; return how many changed."""

    @abc.abstractmethod
    async def garbage_segments(self) -> list[Segment]:
        """Return segments marked ``garbage`` (files to unlink), ordered by id."""

    @abc.abstractmethod
    async def delete_segments(self, ids: Iterable[int]) -> int:
        """Phase 3 of deletion: remove ``garbage`` rows; return how many went.

        Raises ``CatalogError`` (deleting nothing) if any id is still ``ok``.
        Unknown ids are ignored so recovery can repeat itself.
        """

    @abc.abstractmethod
    async def segment_totals(self, camera_name: str) -> tuple[int, int]:
        """Return ``(count, total bytes)`` of the camera's ``ok`` segments."""

    # -- users and sessions ------------------------------------------------

    @abc.abstractmethod
    async def create_user(
        self, username: str, password_hash: str, role: str, kelurahan: str | None = None
    ) -> User:
        """Create a user; a duplicate username or unknown role raises ``CatalogError``."""

    @abc.abstractmethod
    async def get_user(self, username: str) -> User | None:
        """Return the user called ``username``, or ``None``."""

    @abc.abstractmethod
    async def get_user_by_id(self, user_id: int) -> User | None:
        """Return user ``user_id``, or ``None``."""

    @abc.abstractmethod
    async def list_users(self) -> list[User]:
        """Return all users ordered by username."""

    @abc.abstractmethod
    async def count_users(self) -> int:
        """Return the number of users (0 means first-run setup)."""

    @abc.abstractmethod
    async def set_user_disabled(self, user_id: int, disabled: bool) -> User:
        """Enable or disable a user; disabling also deletes their sessions."""

    @abc.abstractmethod
    async def set_user_role(self, user_id: int, role: str, kelurahan: str | None) -> User:
        """Change a user's role and scope (None = all cameras) and delete their sessions."""

    @abc.abstractmethod
    async def set_password_hash(self, user_id: int, password_hash: str) -> User:
        """Replace a user's password hash and delete their sessions."""

    @abc.abstractmethod
    async def create_session(
        self, token_hash: str, user_id: int, csrf_token: str, expires_at_us: int
    ) -> Session:
        """Store a new session (created/last seen now); unknown user raises ``CatalogError``."""

    @abc.abstractmethod
    async def get_session(self, token_hash: str) -> Session | None:
        """Return the session, expired or not (check ``Session.is_expired``), or ``None``."""

    async def session_user(self, token_hash: str) -> tuple[Session, User | None] | None:
        """The session and its user (None if the user is gone), in one catalog round trip where the backend can
        (every web request asks this); ``None`` when there is no such session."""
        session = await self.get_session(token_hash)
        return None if session is None else (session, await self.get_user_by_id(session.user_id))

    @abc.abstractmethod
    async def touch_session(
        self, token_hash: str, now_us: int, expires_at_us: int | None = None
    ) -> bool:
        """Set ``last_seen_at`` (and optionally a new expiry); False if no such session."""

    @abc.abstractmethod
    async def delete_session(self, token_hash: str) -> bool:
        """Delete a session (logout); False if it did not exist."""

    @abc.abstractmethod
    async def delete_user_sessions(self, user_id: int) -> int:
        """Delete every session of ``user_id``; return how many."""

    @abc.abstractmethod
    async def delete_expired_sessions(self, now_us: int) -> int:
        """Delete sessions with ``expires_at <= now_us``; return how many."""

    # -- meta ----------------------------------------------------------------

    @abc.abstractmethod
    async def get_meta(self, key: str) -> str | None:
        """Return the small stored value for ``key``, or ``None``."""

    @abc.abstractmethod
    async def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (insert or replace)."""

    # -- retention -------------------------------------------------------------
    # Holds, minimal events, and the bounded queries a retention sweep is built
    # from (see "Retention" in docs/design/storage.md).

    @abc.abstractmethod
    async def add_hold(
        self,
        camera_name: str | None,
        start_us: int,
        end_us: int,
        reason: str,
        created_by: str | None = None,
        expires_at_us: int | None = None,
    ) -> Hold:
        """Keep footage overlapping ``[start_us, end_us)`` of one camera (``None`` = all) from retention.

        Raises ``CatalogError`` for an unknown camera, an empty reason, an
        empty or inverted window.
        """

    @abc.abstractmethod
    async def release_hold(self, hold_id: int, now_us: int) -> Hold:
        """Release a hold at ``now_us``; idempotent (keeps the first release time). Unknown id raises."""

    @abc.abstractmethod
    async def get_hold(self, hold_id: int) -> Hold | None:
        """Return hold ``hold_id`` whatever its state, or ``None``."""

    @abc.abstractmethod
    async def active_holds(self, now_us: int) -> list[Hold]:
        """Return holds neither released nor expired at ``now_us``, ordered by id."""

    @abc.abstractmethod
    async def list_holds(self) -> list[Hold]:
        """Return every hold, released and expired ones too, ordered by id."""

    @abc.abstractmethod
    async def add_event(self, camera_name: str, kind: str, start_us: int, end_us: int) -> int:
        """Record a detection event (``end_us >= start_us``); return its id. Unknown camera raises."""

    @abc.abstractmethod
    async def event_windows(self, camera_name: str, start_us: int, end_us: int) -> list[tuple[int, int]]:
        """Return ``(start, end)`` of the camera's events with ``start < end_us`` and ``end >= start_us``.

        Ordered by start. Uses the ``(camera_id, end_time)`` index, so asking
        about recent windows stays cheap however many old events exist.
        """

    @abc.abstractmethod
    async def mark_segment_garbage_unless_held(self, ids: Iterable[int], now_us: int) -> list[int]:
        """Phase 1 of a retention delete: mark ``ok`` segments ``garbage`` unless an active hold overlaps them.

        The hold check and the mark happen in one write transaction, so a hold
        added while a sweep was planning still wins. Returns the ids marked.
        """

    @abc.abstractmethod
    async def usage_by_camera(self) -> list[CameraUsage]:
        """Return per-camera totals of ``ok`` segments (cameras without footage too), by name.

        Reads every segment row: for the UI, the CLI and size caps, not for
        anything that runs per segment.
        """

    @abc.abstractmethod
    async def usage_since(self, after_id: int) -> tuple[list[CameraUsage], int]:
        """Return per-camera totals of ``ok`` segments with ``id > after_id`` and the highest segment id.

        Cheap when ``after_id`` is recent (a range of the newest rows): lets a
        caller keep ``usage_by_camera`` totals current between full reads.
        """

    @abc.abstractmethod
    async def segments_before(
        self, camera_name: str, end_us: int, limit: int, *, after: tuple[int, int] | None = None
    ) -> list[SegmentSpan]:
        """Return up to ``limit`` of the camera's ``ok`` segments with ``end_time <= end_us``, oldest first.

        Ordered by ``(start_time, id)``; ``after`` = ``(start_time, id)`` of
        the last row of the previous page continues from there. Served by the
        ``(camera_id, start_time)`` index. Rows are ``SegmentSpan`` tuples, not
        full ``Segment`` objects: a sweep reads them by the hundred thousand.
        """

    @abc.abstractmethod
    async def oldest_segments(
        self, limit: int, exclude_camera_ids: Iterable[int] = (), *, after: tuple[int, int] | None = None
    ) -> list[SegmentSpan]:
        """Return up to ``limit`` ``ok`` segments across cameras, oldest first by ``(start_time, id)``.

        ``after`` continues from the previous page's last ``(start_time, id)``.
        Served by the ``(start_time)`` index (the free-space floor).
        """

    @abc.abstractmethod
    async def runs_in_range(self, camera_name: str, start_us: int, end_us: int) -> list[Run]:
        """Return the camera's runs overlapping ``[start_us, end_us)`` (open runs reach to now), by start."""

    @abc.abstractmethod
    async def gaps(
        self, camera_name: str, start_us: int, end_us: int, min_gap_us: int = 1
    ) -> list[tuple[int, int]]:
        """Return the spans of ``[start_us, end_us)`` no ``ok`` segment covers, at least ``min_gap_us`` long.

        Touching segments leave no gap; an unknown camera is one gap over the
        whole window. Callers clip ``end_us`` to now for a live camera.
        """

    async def segments_before_many(
        self, requests: Iterable[tuple[str, int, tuple[int, int] | None, int]]
    ) -> list[list[SegmentSpan]]:
        """``segments_before(camera, end_us, limit, after=after)`` for each ``(camera, end_us, after, limit)``.

        One round trip where the backend can (a sweep asks for 1,500 cameras);
        this default simply loops.
        """
        return [await self.segments_before(n, e, lim, after=a) for n, e, a, lim in requests]

    async def event_windows_many(self, requests: Iterable[tuple[str, int, int]]) -> list[list[tuple[int, int]]]:
        """``event_windows(camera, start_us, end_us)`` for each request; one round trip where the backend can."""
        return [await self.event_windows(n, s, e) for n, s, e in requests]

    # -- storage check --------------------------------------------------------
    # What startup recovery and ``nvr check-storage`` need (see "Crash safety"
    # in docs/design/storage.md): paging every row cheaply, and putting
    # recovered files back into runs that may already have ended.

    @abc.abstractmethod
    async def segment_files(self, after_path: str = "", limit: int = 5000) -> list[tuple[int, str, int, str, str]]:
        """Return up to ``limit`` rows ``(id, path, size_bytes, sha256, state)`` with ``path > after_path``.

        Every state, ordered by ``path`` compared byte by byte (served by the
        unique path index): page on with the last path returned. Plain tuples,
        so walking millions of rows stays cheap.
        """

    @abc.abstractmethod
    async def iter_segments(self, after_id: int = 0, limit: int = 1000) -> list[Segment]:
        """Return one page of segments in any state with ``id > after_id``, ordered by id."""

    @abc.abstractmethod
    async def run_by_start(self, camera_name: str, started_at_us: int) -> Run | None:
        """Return the camera's run that started at ``started_at_us`` (the run key in file names), or ``None``."""

    @abc.abstractmethod
    async def insert_ended_run(self, camera_name: str, started_at_us: int, ended_at_us: int, reason: str) -> Run:
        """Record a run that is already over (recovery found its files but not its row).

        Creates the camera row if there is none; works for removed cameras too.
        """

    @abc.abstractmethod
    async def segment_neighbours(self, run_id: int, start_time: int) -> tuple[Segment | None, Segment | None]:
        """Return the run's segments (any state) just before (``start <= start_time``) and after ``start_time``."""

    @abc.abstractmethod
    async def add_recovered_segment(
        self,
        *,
        run_id: int,
        start_time: int,
        end_time: int,
        media_duration: int,
        path: str,
        size_bytes: int,
        sha256: str,
        frames: int,
        keyframes: int,
        codec: str,
        width: int | None = None,
        height: int | None = None,
    ) -> Segment:
        """Insert a recovered file into run ``run_id``, open or ended, at its place in time.

        ``seq`` follows from the start time (later segments of the run are
        renumbered if there is no free number). Raises ``CatalogError`` if it
        overlaps a neighbour or the fields are invalid. An ended run whose
        ``ended_at`` is before ``end_time`` is extended to it.
        """

    @abc.abstractmethod
    async def update_segment_file(
        self,
        segment_id: int,
        *,
        size_bytes: int,
        sha256: str,
        frames: int | None = None,
        keyframes: int | None = None,
        media_duration: int | None = None,
        end_time: int | None = None,
    ) -> Segment:
        """Correct a row after its file was found changed (recovery, ``check-storage --repair``).

        ``None`` keeps a value. ``end_time`` may only shrink (stay after the
        start and not past the current end), so the run's order holds.
        """

    # --- start-up marker ---
    # What keeps start-up bounded on a big store (see "Start-up recovery" in
    # docs/design/storage.md): a clean-shutdown marker in ``meta`` tied to a
    # generation counter, and a few batch reads so that recovery of the recent
    # folders costs one round trip per step, not one per camera.

    GENERATION_KEY = "startup.generation"
    """``meta`` key: how many times a server has started on this catalog."""
    CLEAN_SHUTDOWN_KEY = "startup.clean_shutdown"
    """``meta`` key: the clean-shutdown marker (JSON, written by the stopping server)."""

    @abc.abstractmethod
    async def begin_generation(self) -> tuple[int, str | None]:
        """Start a server generation: in one write transaction, take the marker and bump the counter.

        Returns ``(new generation, the marker text that was stored or None)``;
        the marker is gone afterwards, so a crash from here on leaves none.
        """

    @abc.abstractmethod
    async def record_clean_shutdown(self, generation: int, marker: str) -> bool:
        """Store ``marker`` if ``generation`` is still the latest one; return whether it was stored."""

    @abc.abstractmethod
    async def last_segment_id(self) -> int:
        """Return the highest segment id in any state (0 when there is none)."""

    @abc.abstractmethod
    async def latest_segment_starts(self) -> dict[str, int]:
        """Return camera name → latest ``start_time`` of its segments (any state); cameras without any are left out.

        One index probe per camera (``(camera_id, start_time)``).
        """

    @abc.abstractmethod
    async def segment_files_in(self, ranges: Sequence[tuple[str, str]]) -> list[tuple[int, str, int, str, str]]:
        """Return ``segment_files`` rows with ``low < path < high`` for each ``(low, high)``, in one round trip.

        Every state; each range ordered by path (byte order), ranges in the order given.
        """

    @abc.abstractmethod
    async def end_open_runs(self, reason: str) -> list[tuple[int, int, int]]:
        """End every open run at its last segment's end (its start if it has none), in one write transaction.

        Returns ``(run id, camera id, ended_at)`` per run ended, ordered by run id.
        """

    # --- end start-up marker ---


def validate_role(role: str, scope: str | None = "") -> None:
    """Raise ``CatalogError`` unless ``role`` is one of ``ROLES`` (kelurahan roles also need a ``scope``)."""
    if role not in ROLES:
        raise CatalogError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role in SCOPED_ROLES and not scope:
        raise CatalogError(f"role {role!r} must be bound to a kelurahan or kecamatan (kelurahan)")


def validate_new_segment(
    *,
    start_time: int,
    end_time: int,
    media_duration: int,
    path: str,
    size_bytes: int,
    sha256: str,
    frames: int,
    keyframes: int,
    codec: str,
    previous: Segment | None,
    seq: int,
) -> None:
    """Check a segment before insertion (shared by all backends).

    ``previous`` is the run's last segment. Touching (``start == previous.end``)
    is fine; any overlap is not.
    """
    if end_time <= start_time:
        raise CatalogError(f"segment {path!r}: end_time {end_time} must be after start_time {start_time}")
    if end_time - start_time > MAX_SEGMENT_WALL_US:
        raise CatalogError(f"segment {path!r}: spans more than {MAX_SEGMENT_WALL_US // 1_000_000} s of wall time")
    if previous is not None:
        if start_time < previous.end_time:
            raise CatalogError(
                f"segment {path!r} starts at {start_time}, overlapping the run's previous segment "
                f"{previous.path!r} (seq {previous.seq}) which ends at {previous.end_time}"
            )
        if seq <= previous.seq:
            raise CatalogError(f"segment {path!r}: seq {seq} must be greater than previous seq {previous.seq}")
    elif seq < 0:
        raise CatalogError(f"segment {path!r}: seq {seq} must not be negative")
    if media_duration < 0 or size_bytes < 0:
        raise CatalogError(f"segment {path!r}: media_duration and size_bytes must not be negative")
    if not 0 <= keyframes <= frames:
        raise CatalogError(f"segment {path!r}: need 0 <= keyframes ({keyframes}) <= frames ({frames})")
    if not _SHA256_RE.match(sha256):
        raise CatalogError(f"segment {path!r}: sha256 must be 64 lowercase hex digits")
    if not codec:
        raise CatalogError(f"segment {path!r}: codec must not be empty")
    p = PurePosixPath(path)
    if not path or "\\" in path or p.is_absolute() or ".." in p.parts or str(p) != path:
        raise CatalogError(f"segment path {path!r} must be a normalised relative POSIX path")


def _parse_sqlite_url(url: str) -> str:
    """Map a catalog URL or plain path to a sqlite3 database argument."""
    if url.startswith("sqlite://"):
        rest = url[len("sqlite://"):]
        if rest == ":memory:":
            return ":memory:"
        if not rest.startswith("/"):
            raise CatalogError(
                f"bad SQLite catalog URL {url!r}: use sqlite:///absolute/path.db or sqlite://:memory:"
            )
        return "/" + rest.lstrip("/")  # sqlite:////abs (SQLAlchemy style) means the same file
    return str(Path(url).expanduser().resolve())


async def open_catalog(
    url: str,
    *,
    clock: Clock | None = None,
    migrations: Sequence[Migration] | None = None,
) -> Catalog:
    """Open (creating and migrating if needed) the catalog at ``url``.

    Accepts ``sqlite:///abs/path/catalog.db``, a plain filesystem path,
    ``sqlite://:memory:``, or ``postgresql://user:pass@host:port/db[?schema=name]``
    (see docs/design/scale-out.md). ``clock`` stamps created/updated times (default:
    system clock). ``migrations`` replaces the shipped schema (tests only).
    """
    if not url:
        raise CatalogError("empty catalog URL")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("postgresql", "postgres"):
        from nvr.storage.postgres import PostgresCatalog  # late: imports the SQLite backend, which imports this

        return await PostgresCatalog.open(url, clock=clock, migrations=migrations)
    if scheme not in ("", "sqlite"):
        raise CatalogError(f"unknown catalog URL scheme {scheme!r} in {url!r}; expected sqlite:// or a path")
    database = _parse_sqlite_url(url)
    # Late import: the backend module imports this one.
    from nvr.storage.sqlite import SqliteCatalog

    return await SqliteCatalog.open(database, clock=clock, migrations=migrations)
