"""The catalog's licence-plate methods: sightings with their crops, plate search, and the watchlist."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Literal

__all__ = ["NewSighting", "PlateQuery", "PlateSighting", "PlatesCatalog", "WatchEntry"]

SearchMode = Literal["exact", "prefix", "fuzzy"]


@dataclass(frozen=True, slots=True)
class NewSighting:
    """What the lpr plugin knows when a vehicle's reads are voted into one plate."""

    camera: str
    plate: str
    plate_key: str
    confidence: float
    reads: int
    agreement: float
    first_us: int
    last_us: int
    best_us: int
    footage_start_us: int
    footage_end_us: int
    track_id: int | None = None
    box: tuple[float, float, float, float] | None = None
    alternatives: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class PlateSighting:
    """A stored sighting. ``distance`` is set by fuzzy search (weighted edit distance to the query)."""

    id: int
    camera: str
    plate: str
    plate_key: str
    confidence: float
    reads: int
    agreement: float
    first_us: int
    last_us: int
    best_us: int
    footage_start_us: int
    footage_end_us: int
    track_id: int | None
    box: tuple[float, float, float, float] | None
    alternatives: tuple[tuple[str, int], ...]
    has_crop: bool
    alert_event_id: int | None
    watch_plate: str | None
    created_at: int
    distance: float | None = None


@dataclass(frozen=True, slots=True)
class PlateQuery:
    """A plate search. ``text`` is any form (``b 1234-xyz``); times select sightings overlapping ``[start, end)``.

    ``exact``: the same plate; ``prefix``: plates starting with the text; ``fuzzy``: plates within
    ``max_distance`` (insert, delete or substitute 1; the OCR confusions O/0, I/1, B/8, S/5, Z/2 0.25).
    Exact and prefix list newest first; fuzzy lists the closest first, then newest.
    """

    text: str
    mode: SearchMode = "exact"
    max_distance: float = 1.0
    cameras: tuple[str, ...] | None = None
    start_us: int | None = None
    end_us: int | None = None
    min_confidence: float = 0.0
    before_id: int | None = None
    """Keyset paging for exact and prefix: only sightings with a smaller id."""
    limit: int = 100


@dataclass(frozen=True, slots=True)
class WatchEntry:
    """A watchlisted plate: alerts go to ``owner`` with ``reason``. ``id`` is None for entries from the config."""

    id: int | None
    plate: str
    plate_key: str
    reason: str
    owner: str
    severity: str = "high"
    created_by: str = "config"
    created_at: int = 0
    removed_at: int | None = None


class PlatesCatalog(abc.ABC):
    """Plate storage; every method does its I/O off the event loop, times in UTC µs."""

    @abc.abstractmethod
    async def add_plate_sighting(self, new: NewSighting, crop_jpeg: bytes | None = None,
                                 crop_size: tuple[int, int] = (0, 0)) -> PlateSighting:
        """Store a sighting and its crop in one transaction; unknown camera or empty key raises ``CatalogError``."""

    @abc.abstractmethod
    async def get_plate_sighting(self, sighting_id: int) -> PlateSighting | None:
        """The sighting with this id, or None."""

    @abc.abstractmethod
    async def search_plates(self, query: PlateQuery) -> list[PlateSighting]:
        """Sightings matching ``query``, at most ``query.limit``."""

    @abc.abstractmethod
    async def plate_crop(self, sighting_id: int) -> bytes | None:
        """The sighting's crop JPEG, or None."""

    @abc.abstractmethod
    async def link_plate_alert(self, sighting_id: int, event_id: int, watch_plate: str) -> PlateSighting:
        """Record that the sighting matched ``watch_plate`` and raised (or joined) the alert ``event_id``."""

    @abc.abstractmethod
    async def delete_plate_sightings_before(self, before_us: int, limit: int = 10_000) -> int:
        """Delete up to ``limit`` sightings last seen before ``before_us`` (and their crops); return how many."""

    @abc.abstractmethod
    async def add_watch_entry(self, plate: str, reason: str, owner: str, severity: str, created_by: str,
                              at_us: int) -> WatchEntry:
        """Watch a plate; a plate already watched raises ``CatalogError``; it must follow the plate grammar."""

    @abc.abstractmethod
    async def remove_watch_entry(self, entry_id: int, by: str, at_us: int) -> WatchEntry:
        """Stop watching (the row stays, marked removed, for the record); unknown or removed raises ``CatalogError``."""

    @abc.abstractmethod
    async def list_watch_entries(self, include_removed: bool = False) -> list[WatchEntry]:
        """Watchlist entries stored through the API, oldest first."""
