"""The catalog's event methods: detection and rule events, their snapshots and acknowledgements."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass

from nvr.models import Event

__all__ = ["EventFilter", "EventsCatalog", "NewEvent", "Snapshot"]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """What analysis knows when an event starts."""

    camera: str
    kind: str
    label: str
    score: float
    start_us: int
    end_us: int
    track_id: int | None = None
    box: tuple[float, float, float, float] | None = None
    zones: tuple[str, ...] = ()
    severity: str = "info"
    agency: str | None = None
    rule: str | None = None
    pre_roll_us: int = 0
    post_roll_us: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A JPEG of the frame that shows an event best."""

    jpeg: bytes
    width: int
    height: int
    taken_us: int


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events to list; ``None`` means any. Times select events overlapping ``[start_us, end_us)``."""

    cameras: tuple[str, ...] | None = None
    label: str | None = None
    kind: str | None = None
    zone: str | None = None
    start_us: int | None = None
    end_us: int | None = None
    ongoing: bool | None = None
    acknowledged: bool | None = None
    before_id: int | None = None
    """Keyset paging: only events with a smaller id (the list is newest first)."""
    limit: int = 100


class EventsCatalog(abc.ABC):
    """Event storage; every method does its I/O off the event loop, times in UTC µs."""

    @abc.abstractmethod
    async def open_event(self, new: NewEvent, snapshot: Snapshot | None = None) -> Event:
        """Insert an ongoing event (with its snapshot, in the same transaction).

        An unknown camera or ``end_us < start_us`` raises ``CatalogError``.
        """

    @abc.abstractmethod
    async def update_event(self, event_id: int, *, end_us: int | None = None, score: float | None = None,
                           box: tuple[float, float, float, float] | None = None,
                           zones: Iterable[str] | None = None, ongoing: bool | None = None,
                           severity: str | None = None) -> Event:
        """Change an event; ``end_us`` never moves before ``start_us``; ``severity`` is a new severity (raised by
        an escalation). Unknown id raises ``CatalogError``."""

    @abc.abstractmethod
    async def get_event(self, event_id: int) -> Event | None:
        """The event with this id, or None."""

    @abc.abstractmethod
    async def list_events(self, where: EventFilter) -> list[Event]:
        """Events matching ``where``, newest (highest id) first, at most ``where.limit``."""

    @abc.abstractmethod
    async def set_event_snapshot(self, event_id: int, jpeg: bytes, width: int, height: int, taken_us: int) -> None:
        """Store (or replace) the event's best snapshot."""

    @abc.abstractmethod
    async def event_snapshot(self, event_id: int) -> bytes | None:
        """The event's snapshot JPEG, or None."""

    @abc.abstractmethod
    async def acknowledge_event(self, event_id: int, by: str, note: str | None, at_us: int) -> Event:
        """Record who acknowledged the event, when, and why; a second acknowledgement replaces the first."""

    @abc.abstractmethod
    async def end_ongoing_events(self, at_us: int) -> int:
        """End every event still open (after a crash or a stop); return how many. ``end_us`` is kept."""
