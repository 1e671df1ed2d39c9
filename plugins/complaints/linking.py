"""Linking a complaint to footage: cameras in the category's radius, their footage window, matching events, holds."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nvr.clock import now_us
from nvr.config import CameraConfig
from nvr.errors import CatalogError
from nvr.storage.complaints_catalog import CameraLink, Complaint, NewCameraLink
from nvr.storage.events_catalog import EventFilter

from .area import camera_area, point_kelurahan
from .config import Category, ComplaintsConfig
from .geo import CameraSpot, Nearby, nearby_cameras
from .sla import DAY_US

if TYPE_CHECKING:
    from nvr.models import Event
    from nvr.runtime import Runtime

__all__ = ["LINKER", "LinkResult", "camera_spots", "category_of", "event_matches", "link_complaint", "window_of"]

log = logging.getLogger(__name__)

LINKER = "system:complaints"
"""The audit log's actor for links made by nvr itself."""
MIN_US = 60_000_000
MAX_EVENTS = 500


@dataclass(frozen=True, slots=True)
class LinkResult:
    """What one (re)linking added: the complaint after it, new camera links, new event ids."""

    complaint: Complaint
    cameras: list[CameraLink]
    events: list[int]

    @property
    def added(self) -> bool:
        return bool(self.cameras or self.events)


def category_of(config: ComplaintsConfig, name: str) -> Category:
    """The category's settings; one that left the config keeps the global defaults."""
    found = config.category(name)
    if found is not None:
        return found
    return Category(name, config.radius_m, config.before_min, config.after_min, config.default_agency, ())


def window_of(category: Category, reported_us: int) -> tuple[int, int]:
    """The footage window ``[start, end)`` held around a report time."""
    return (reported_us - round(category.before_min * MIN_US), reported_us + max(1, round(category.after_min * MIN_US)))


def camera_spots(cameras: list[CameraConfig]) -> list[CameraSpot]:
    """Configured cameras that have a location."""
    return [CameraSpot(c.name, c.location.lat, c.location.lon, c.location.direction_deg, c.location.fov_deg)
            for c in cameras if c.location is not None]


def event_matches(event: Event, kinds: tuple[str, ...]) -> bool:
    """An event matches a category when its kind (a rule's, e.g. crowd) or its label (e.g. fire) is listed."""
    return event.kind in kinds or event.label in kinds


async def link_complaint(runtime: Runtime, config: ComplaintsConfig, complaint: Complaint,
                         actor: str = LINKER) -> LinkResult:
    """Link (or re-link: only what is new is added) cameras and events near ``complaint``; hold their footage.

    Raises ``CatalogError`` for a closed complaint (its holds are already counting down).
    """
    if complaint.status == "closed":
        raise CatalogError("status: a closed complaint is not re-linked")
    category = category_of(config, complaint.category)
    start, end = window_of(category, complaint.reported_us)
    stored = {c.name for c in await runtime.catalog.list_cameras(include_removed=False)}
    near: list[Nearby] = [n for n in nearby_cameras(complaint.lat, complaint.lon, camera_spots(runtime.config.cameras),
                                                    category.radius_m) if n.name in stored]
    links = [NewCameraLink(n.name, rank, round(n.distance_m, 1), round(n.bearing_deg, 1), n.facing, start, end)
             for rank, n in enumerate(near)]
    events: list[tuple[int, int, int]] = []
    if category.event_kinds and near:
        found = await runtime.catalog.list_events(EventFilter(cameras=tuple(n.name for n in near), start_us=start,
                                                              end_us=end, limit=MAX_EVENTS))
        events = sorted((e.id, *e.footage) for e in found if event_matches(e, category.event_kinds))
    kelurahan = complaint.kelurahan or point_kelurahan(runtime, complaint.lat, complaint.lon)
    nearest = min(near, key=lambda n: n.distance_m, default=None)
    if kelurahan is None and nearest is not None:
        camera = runtime.config.camera(nearest.name)
        kelurahan = camera_area(runtime, camera)[0] if camera is not None else None
    updated, new_links, new_events = await runtime.catalog.link_complaint(
        complaint.id, links, events, kelurahan, actor, now_us(runtime.clock))
    if new_links or new_events:
        log.info("complaint %s linked: %d camera(s), %d event(s) added", complaint.id, len(new_links),
                 len(new_events))
    return LinkResult(updated, new_links, new_events)


def hold_expiry(config: ComplaintsConfig, closed_us: int) -> int:
    """When the holds of a complaint closed at ``closed_us`` end."""
    return closed_us + round(config.hold_days_after_close * DAY_US)
