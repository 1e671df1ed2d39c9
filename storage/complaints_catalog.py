"""The catalog's complaint methods: citizen complaints, their confidential reporters, linked cameras and events."""

from __future__ import annotations

import abc
from dataclasses import dataclass

__all__ = ["CameraLink", "Complaint", "ComplaintConflict", "ComplaintFilter", "ComplaintsCatalog", "EventLink",
           "NewCameraLink", "NewComplaint", "Reporter", "STATUSES"]

from nvr.errors import CatalogError

STATUSES = ("new", "linked", "in_progress", "responded", "closed")
"""The workflow's states, in order."""


class ComplaintConflict(CatalogError):
    """A status change that the complaint's current status does not allow (someone else moved it first)."""


@dataclass(frozen=True, slots=True)
class Reporter:
    """Who reported a complaint: confidential (never in lists, kelurahan users' pages, exports or logs)."""

    name: str | None = None
    contact: str | None = None
    reporter_ref: str | None = None

    def __repr__(self) -> str:  # never print the identity by accident (logs, tracebacks)
        return "Reporter(<confidential>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class NewComplaint:
    """A validated complaint to store; ``reporter`` and ``photo`` (content type, bytes) are optional."""

    external_id: str
    category: str
    body: str
    lat: float
    lon: float
    reported_us: int
    agency: str | None = None
    kelurahan: str | None = None
    source: str = "api"
    reporter: Reporter | None = None
    photo: tuple[str, bytes] | None = None
    received_us: int | None = None
    """When it arrived (the caller's clock); None: the catalog's clock."""

    def __repr__(self) -> str:
        return f"NewComplaint(external_id={self.external_id!r}, category={self.category!r})"


@dataclass(frozen=True, slots=True)
class Complaint:
    """A stored complaint, without its reporter. Times in UTC µs."""

    id: int
    external_id: str
    category: str
    body: str
    lat: float
    lon: float
    reported_us: int
    received_us: int
    status: str
    agency: str | None
    kelurahan: str | None
    source: str
    linked_us: int | None
    responded_us: int | None
    closed_us: int | None
    updated_us: int
    has_photo: bool = False


@dataclass(frozen=True, slots=True)
class NewCameraLink:
    """A camera found near a complaint and the footage window to hold on it."""

    camera: str
    rank: int
    distance_m: float
    bearing_deg: float
    facing: bool | None
    start_us: int
    end_us: int


@dataclass(frozen=True, slots=True)
class CameraLink:
    """A stored camera link; ``hold_id`` is the hold that keeps its window."""

    camera: str
    rank: int
    distance_m: float
    bearing_deg: float
    facing: bool | None
    start_us: int
    end_us: int
    hold_id: int | None
    created_us: int


@dataclass(frozen=True, slots=True)
class EventLink:
    """A detection event linked to a complaint, with the event's camera, kind, label and footage."""

    event_id: int
    camera: str
    kind: str
    label: str
    start_us: int
    end_us: int
    hold_id: int | None
    created_us: int


@dataclass(frozen=True, slots=True)
class ComplaintFilter:
    """Which complaints to list; ``None`` means any. ``scope`` limits to these kelurahans (a scoped user's)."""

    statuses: tuple[str, ...] | None = None
    category: str | None = None
    kelurahan: str | None = None
    scope: tuple[str, ...] | None = None
    reported_after_us: int | None = None
    reported_before_us: int | None = None
    limit: int = 50
    offset: int = 0


class ComplaintsCatalog(abc.ABC):
    """Complaint storage; every method does its I/O off the event loop, times in UTC µs."""

    @abc.abstractmethod
    async def add_complaint(self, new: NewComplaint, actor: str = "intake") -> tuple[Complaint, bool]:
        """Store a complaint, its reporter and photo, and an audit entry by ``actor``, in one transaction.

        Idempotent on ``external_id``.
        Returns ``(complaint, True)`` when stored now, ``(the stored one, False)`` when the external id exists
        (concurrent posts of one id store it once).
        """

    @abc.abstractmethod
    async def get_complaint(self, complaint_id: int) -> Complaint | None:
        """The complaint with this id, or None."""

    @abc.abstractmethod
    async def complaint_by_external_id(self, external_id: str) -> Complaint | None:
        """The complaint with this external id, or None."""

    @abc.abstractmethod
    async def list_complaints(self, where: ComplaintFilter) -> list[Complaint]:
        """Complaints matching ``where``, newest report first, a page of ``limit`` from ``offset``."""

    @abc.abstractmethod
    async def count_complaints(self, where: ComplaintFilter) -> int:
        """How many complaints match ``where`` (ignoring ``limit`` and ``offset``)."""

    @abc.abstractmethod
    async def complaint_kelurahans(self) -> list[str]:
        """The kelurahan names complaints have, sorted (for filters)."""

    @abc.abstractmethod
    async def complaint_reporter(self, complaint_id: int) -> Reporter | None:
        """The complaint's reporter, or None. Callers must check the user may see it."""

    @abc.abstractmethod
    async def complaint_photo(self, complaint_id: int) -> tuple[str, bytes] | None:
        """The complaint's photo as (content type, bytes), or None."""

    @abc.abstractmethod
    async def link_complaint(self, complaint_id: int, cameras: list[NewCameraLink], events: list[tuple[int, int, int]],
                             kelurahan: str | None, actor: str, now_us: int,
                             hold_expires_us: int | None = None) -> tuple[Complaint, list[CameraLink], list[int]]:
        """Add camera and event links (those not linked yet) and a hold for each, in one transaction.

        ``events`` are ``(event id, footage start, footage end)``. Sets ``linked_at``, the kelurahan when the
        complaint has none, and moves ``new`` to ``linked`` when anything is linked (audited). Holds expire at
        ``hold_expires_us`` (None: until the complaint is closed). Returns the complaint, the new camera links
        and the new event ids. Unknown complaint raises ``CatalogError``.
        """

    @abc.abstractmethod
    async def set_complaint_status(self, complaint_id: int, status: str, allowed_from: tuple[str, ...], actor: str,
                                   note: str | None, now_us: int, hold_expires_us: int | None = None) -> Complaint:
        """Move to ``status`` if the current status is in ``allowed_from``, audited, in one transaction.

        ``responded`` stamps ``responded_at``; ``closed`` stamps ``closed_at`` and sets every hold of the
        complaint to expire at ``hold_expires_us``. Raises ``ComplaintConflict`` (naming the current status)
        when not allowed, ``CatalogError`` for an unknown complaint.
        """

    @abc.abstractmethod
    async def complaint_cameras(self, complaint_id: int) -> list[CameraLink]:
        """The complaint's camera links, best first."""

    @abc.abstractmethod
    async def complaint_events(self, complaint_id: int) -> list[EventLink]:
        """The complaint's linked events, oldest first."""
