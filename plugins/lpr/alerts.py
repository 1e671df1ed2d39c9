"""Stores sightings in the catalog and raises watchlist alerts as ``plate_alert`` events through the event hooks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nvr.models import Event
from nvr.plate_text import canonical, plate_distance
from nvr.storage.catalog import Catalog
from nvr.storage.events_catalog import NewEvent, Snapshot
from nvr.storage.plates_catalog import NewSighting, PlateSighting, WatchEntry

from .config import LprConfig

log = logging.getLogger(__name__)

ALERT_KIND = "plate_alert"

Notify = Callable[..., None]


@dataclass(frozen=True, slots=True)
class Crop:
    """The best crop of a sighting as JPEG."""

    jpeg: bytes
    width: int
    height: int
    taken_us: int


@dataclass
class _Alert:
    event: Event
    last_us: int


def watch_entries(cfg: LprConfig) -> list[WatchEntry]:
    """The watchlist entries of the config file."""
    return [WatchEntry(None, w.plate, canonical(w.plate), w.reason, w.owner, w.severity) for w in cfg.watchlist]


def best_match(plate_key: str, entries: list[WatchEntry], budget: float) -> tuple[WatchEntry, float] | None:
    """The closest entry within ``budget`` (exact first), or None."""
    found = [(plate_distance(plate_key, e.plate_key), e) for e in entries
             if abs(len(e.plate_key) - len(plate_key)) <= budget]
    found = [(d, e) for d, e in found if d <= budget + 1e-9]
    if not found:
        return None
    distance, entry = min(found, key=lambda f: (f[0], f[1].plate_key))
    return entry, distance


class AlertRecorder:
    """One per server: stores sightings and raises at most one alert per watched plate, camera and pass."""

    def __init__(self, catalog: Catalog, notify: Notify) -> None:
        self.catalog, self.notify = catalog, notify
        self._recent: dict[tuple[str, str], _Alert] = {}
        self.sightings = 0
        self.alerts = 0

    async def store(self, new: NewSighting, crop: Crop | None, cfg: LprConfig, pre_roll_us: int,
                    post_roll_us: int) -> PlateSighting:
        """Store one sighting; when it matches the watchlist, raise (or extend) its alert."""
        sighting = await self.catalog.add_plate_sighting(new, crop.jpeg if crop else None,
                                                         (crop.width, crop.height) if crop else (0, 0))
        self.sightings += 1
        entries = watch_entries(cfg) + await self.catalog.list_watch_entries()
        match = best_match(sighting.plate_key, entries, cfg.fuzzy_budget)
        if match is None:
            return sighting
        entry, distance = match
        key = (sighting.camera, entry.plate_key)
        cooldown_us = round(cfg.alert_cooldown_s * 1_000_000)
        recent = self._recent.get(key)
        if recent is not None and sighting.first_us - recent.last_us <= cooldown_us:
            event = await self.catalog.update_event(recent.event.id, end_us=max(recent.event.end_us,
                                                                                  sighting.last_us))
            self._recent[key] = _Alert(event, max(recent.last_us, sighting.last_us))
            self.notify("event_updated", event=event)
            return await self.catalog.link_plate_alert(sighting.id, event.id, entry.plate)
        event = await self.catalog.open_event(NewEvent(
            camera=sighting.camera, kind=ALERT_KIND, label=sighting.plate, score=sighting.confidence,
            start_us=sighting.first_us, end_us=sighting.last_us, track_id=sighting.track_id, box=sighting.box,
            severity=entry.severity, agency=entry.owner, rule=f"watchlist {entry.plate}: {entry.reason}",
            pre_roll_us=pre_roll_us, post_roll_us=post_roll_us),
            Snapshot(crop.jpeg, crop.width, crop.height, crop.taken_us) if crop else None)
        self.alerts += 1
        self.notify("event_started", event=event)
        event = await self.catalog.update_event(event.id, ongoing=False)
        self.notify("event_ended", event=event)
        self._recent[key] = _Alert(event, sighting.last_us)
        log.warning("camera %s: watchlisted plate %s seen as %s (distance %.2f, %s; owner %s)", sighting.camera,
                    entry.plate, sighting.plate, distance, entry.reason, entry.owner)
        self._forget(sighting.last_us, cooldown_us)
        return await self.catalog.link_plate_alert(sighting.id, event.id, entry.plate)

    def _forget(self, now_us: int, cooldown_us: int) -> None:
        for key, alert in list(self._recent.items()):
            if now_us - alert.last_us > cooldown_us:
                del self._recent[key]

    def status(self) -> dict[str, Any]:
        return {"sightings": self.sightings, "alerts": self.alerts}
