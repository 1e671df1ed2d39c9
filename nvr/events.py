"""Turns tracks and rule changes of one camera into catalog events with snapshots, and calls the event hooks."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from nvr.config import AnalysisConfig, DetectConfig
from nvr.errors import NvrError
from nvr.models import Event
from nvr.rules import RuleChange
from nvr.storage.catalog import Catalog
from nvr.storage.events_catalog import NewEvent, Snapshot
from nvr.tracker import Track, TrackUpdate

log = logging.getLogger(__name__)

END_REFRESH_US = 5_000_000
"""An open event's end time is written to the catalog at most this often (and always when it ends)."""

Notify = Callable[..., None]


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of an RGB frame."""
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=quality)
    return out.getvalue()


@dataclass
class _Open:
    event: Event
    written_end_us: int


class EventRecorder:
    """Events of one camera. Calls come from one task at a time, in frame order."""

    def __init__(self, *, camera: str, catalog: Catalog, analysis: AnalysisConfig, detect: DetectConfig,
                 notify: Notify) -> None:
        self.camera, self.catalog, self.notify = camera, catalog, notify
        self.settings, self.detect = analysis, detect
        self._objects = frozenset(detect.objects)
        self._required = frozenset(detect.required_zones)
        self._tracks: dict[int, _Open] = {}
        self._rules: dict[str, _Open] = {}
        self.errors = 0
        self.opened = 0

    @property
    def open_events(self) -> list[Event]:
        return [o.event for o in (*self._tracks.values(), *self._rules.values())]

    def _qualifies(self, track: Track) -> bool:
        if track.label not in self._objects or track.hits < self.settings.min_hits:
            return False
        return not self._required or bool(self._required.intersection(track.zones_ever))

    async def on_frame(self, time_us: int, rgb: np.ndarray, update: TrackUpdate, rules: list[RuleChange]) -> None:
        """Apply one analysed frame: open, improve, extend and end events; store snapshots."""
        for track, best in [*update.continued, *((t, True) for t in update.started)]:
            await self._guard(self._track_seen(time_us, rgb, track, best))
        for track in update.ended:
            await self._guard(self._track_ended(track))
        for change in rules:
            await self._guard(self._rule_change(rgb, change))

    async def end_tracks(self, tracks: list[Track]) -> None:
        for track in tracks:
            await self._guard(self._track_ended(track))

    async def rule_changes(self, changes: list[RuleChange]) -> None:
        for change in changes:
            await self._guard(self._rule_change(None, change))

    async def _guard(self, work) -> None:  # noqa: ANN001 - a coroutine
        try:
            await work
        except (NvrError, OSError) as exc:
            self.errors += 1
            log.warning("camera %s: event not stored: %s", self.camera, exc)

    async def _track_seen(self, time_us: int, rgb: np.ndarray, track: Track, best: bool) -> None:
        current = self._tracks.get(track.id)
        if current is None:
            if not self._qualifies(track):
                return
            event = await self.catalog.open_event(NewEvent(
                camera=self.camera, kind="object", label=track.label, score=track.best_score,
                start_us=track.first_us, end_us=track.last_us, track_id=track.id, box=track.best_box,
                zones=tuple(track.zones_ever), pre_roll_us=self._us(self.settings.pre_roll_s),
                post_roll_us=self._us(self.settings.post_roll_s)), await self._encode(rgb, time_us))
            self._tracks[track.id] = _Open(event, track.last_us)
            self.opened += 1
            self.notify("event_started", event=event)
            return
        zones = tuple(track.zones_ever)
        due = track.last_us - current.written_end_us >= END_REFRESH_US
        if not (best or zones != current.event.zones or due):
            return
        event = await self.catalog.update_event(
            current.event.id, end_us=track.last_us, score=track.best_score if best else None,
            box=track.best_box if best else None, zones=zones if zones != current.event.zones else None)
        if best:
            await self._snapshot(event, rgb, time_us)
            event = await self._reload(event)
        self._tracks[track.id] = _Open(event, track.last_us)
        self.notify("event_updated", event=event)

    async def _track_ended(self, track: Track) -> None:
        current = self._tracks.pop(track.id, None)
        if current is None:
            return
        event = await self.catalog.update_event(current.event.id, end_us=track.last_us, ongoing=False)
        self.notify("event_ended", event=event)

    async def _rule_change(self, rgb: np.ndarray | None, change: RuleChange) -> None:
        rule = change.rule
        current = self._rules.get(rule.name)
        if change.action == "start" and current is None:
            event = await self.catalog.open_event(NewEvent(
                camera=self.camera, kind=rule.event_kind or rule.name, label=change.label, score=change.score,
                start_us=change.since_us, end_us=change.time_us, box=change.box,
                zones=(rule.zone,) if rule.zone else (), severity=rule.severity, agency=rule.agency, rule=rule.name,
                pre_roll_us=self._us(self.settings.pre_roll_s), post_roll_us=self._us(self.settings.post_roll_s)),
                await self._encode(rgb, change.time_us) if rgb is not None else None)
            self._rules[rule.name] = _Open(event, change.time_us)
            self.opened += 1
            self.notify("event_started", event=event)
        elif change.action == "update" and current is not None:
            better = change.score > current.event.score
            if not better and change.time_us - current.written_end_us < END_REFRESH_US:
                return
            event = await self.catalog.update_event(current.event.id, end_us=change.time_us,
                                                    score=change.score if better else None,
                                                    box=change.box if better else None)
            self._rules[rule.name] = _Open(event, change.time_us)
            self.notify("event_updated", event=event)
        elif change.action == "end" and current is not None:
            del self._rules[rule.name]
            event = await self.catalog.update_event(current.event.id, end_us=change.time_us, ongoing=False)
            self.notify("event_ended", event=event)

    async def _encode(self, rgb: np.ndarray, time_us: int) -> Snapshot:
        jpeg = await asyncio.to_thread(encode_jpeg, rgb, self.settings.snapshot_quality)
        return Snapshot(jpeg, rgb.shape[1], rgb.shape[0], time_us)

    async def _snapshot(self, event: Event, rgb: np.ndarray, time_us: int) -> None:
        snap = await self._encode(rgb, time_us)
        await self.catalog.set_event_snapshot(event.id, snap.jpeg, snap.width, snap.height, time_us)

    async def _reload(self, event: Event) -> Event:
        return await self.catalog.get_event(event.id) or event

    @staticmethod
    def _us(seconds: float) -> int:
        return round(seconds * 1_000_000)
