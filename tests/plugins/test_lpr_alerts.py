"""Watchlist alerts on a real catalog: which sightings match, one alert per pass, the crop and the footage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from nvr.plate_text import canonical
from nvr.plugins.lpr.alerts import ALERT_KIND, AlertRecorder, Crop, best_match, watch_entries
from nvr.plugins.lpr.config import LprConfig
from nvr.storage.catalog import Catalog, open_catalog
from nvr.storage.events_catalog import EventFilter
from nvr.storage.plates_catalog import NewSighting

S = 1_000_000
PRE, POST = 5 * S, 10 * S
JPEG = b"\xff\xd8 the plate crop \xff\xd9"


def config(cooldown_s: float = 60.0, budget: float = 0.5) -> LprConfig:
    return LprConfig.model_validate({
        "fuzzy_budget": budget, "alert_cooldown_s": cooldown_s,
        "watchlist": [{"plate": "B 1234 XYZ", "reason": "stolen, LP/B/1/2026", "owner": "Polda Metro Jaya",
                       "severity": "critical"},
                      {"plate": "AB 27 KT", "reason": "unpaid fines", "owner": "Dishub"}]})


def new(plate: str, t: float, camera: str = "cam1", seen_s: float = 2.0) -> NewSighting:
    first, last = round(t * S), round((t + seen_s) * S)
    return NewSighting(camera=camera, plate=plate, plate_key=canonical(plate), confidence=0.9, reads=4,
                       agreement=1.0, first_us=first, last_us=last, best_us=first + S,
                       footage_start_us=first - PRE, footage_end_us=last + POST)


class Hooks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, hook: str, **kwargs: Any) -> None:
        self.calls.append((hook, kwargs["event"].id))


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[Catalog]:
    async with await open_catalog(f"sqlite://{tmp_path / 'catalog.db'}") as cat:
        for name in ("cam1", "cam2"):
            await cat.upsert_camera(name)
        yield cat


@pytest.mark.parametrize(("seen", "budget", "watched"), [
    ("B 1234 XYZ", 0.5, "B 1234 XYZ"),
    ("8 1234 XYZ", 0.5, "B 1234 XYZ"),    # one confusion
    ("8 I234 XYZ", 0.5, "B 1234 XYZ"),    # two confusions: the budget
    ("AB 27 KT", 0.5, "AB 27 KT"),
    ("A8 27 KT", 0.5, "AB 27 KT"),
    # near misses that must NOT raise an alert
    ("8 I234 XY2", 0.5, None),            # three confusions
    ("B 1234 XYA", 0.5, None),            # another letter
    ("B 1235 XYZ", 0.5, None),            # another digit
    ("B 1234 XY", 0.5, None),             # a letter fewer
    ("D 1234 XYZ", 0.5, None),            # another region
    ("AB 27 K", 0.5, None),
    ("AB 27 KTT", 0.5, None),
    ("B 1234 XYZ", 0.0, "B 1234 XYZ"),    # exact only
    ("8 1234 XYZ", 0.0, None),
    ("B 1234 XYA", 1.0, "B 1234 XYZ"),    # a looser budget takes a real change
])
def test_which_sightings_match_the_watchlist(seen: str, budget: float, watched: str | None) -> None:
    match = best_match(canonical(seen), watch_entries(config(budget=budget)), budget)
    assert (match[0].plate if match else None) == watched


async def test_one_alert_per_pass_with_the_crop_and_the_footage(catalog: Catalog) -> None:
    hooks = Hooks()
    alerts, cfg = AlertRecorder(catalog, hooks), config(cooldown_s=60)
    crop = Crop(JPEG, 60, 20, 101 * S)
    first = await alerts.store(new("B 1234 XYZ", 100), crop, cfg, PRE, POST)
    split = await alerts.store(new("8 1234 XYZ", 105), crop, cfg, PRE, POST)   # the same pass, split in two
    other_camera = await alerts.store(new("B 1234 XYZ", 106, "cam2"), crop, cfg, PRE, POST)
    unwatched = await alerts.store(new("B 1234 XYA", 107), crop, cfg, PRE, POST)
    later = await alerts.store(new("B 1234 XYZ", 300), crop, cfg, PRE, POST)    # the next pass
    events = await catalog.list_events(EventFilter(kind=ALERT_KIND))
    assert len(events) == 3 and alerts.alerts == 3 and alerts.sightings == 5
    assert unwatched.alert_event_id is None and unwatched.watch_plate is None
    assert first.alert_event_id == split.alert_event_id
    assert len({first.alert_event_id, other_camera.alert_event_id, later.alert_event_id}) == 3
    by_id = {e.id: e for e in events}
    pass_one = by_id[first.alert_event_id]
    assert (pass_one.camera, pass_one.label, pass_one.severity, pass_one.agency) == (
        "cam1", "B 1234 XYZ", "critical", "Polda Metro Jaya")
    assert pass_one.rule == "watchlist B 1234 XYZ: stolen, LP/B/1/2026" and not pass_one.ongoing
    # the recording link: the alert's footage spans both halves of the pass with the pre- and post-roll
    assert pass_one.footage == (100 * S - PRE, 107 * S + POST)
    assert (split.watch_plate, split.plate) == ("B 1234 XYZ", "8 1234 XYZ")
    assert pass_one.has_snapshot and await catalog.event_snapshot(pass_one.id) == JPEG  # the crop
    assert await catalog.plate_crop(first.id) == JPEG
    assert hooks.calls == [("event_started", first.alert_event_id), ("event_ended", first.alert_event_id),
                           ("event_updated", first.alert_event_id),
                           ("event_started", other_camera.alert_event_id),
                           ("event_ended", other_camera.alert_event_id),
                           ("event_started", later.alert_event_id), ("event_ended", later.alert_event_id)]


async def test_watch_entries_added_through_the_catalog_alert_too(catalog: Catalog) -> None:
    alerts = AlertRecorder(catalog, Hooks())
    await catalog.add_watch_entry("F 1 A", "seen at a robbery", "Polsek Gambir", "high", "inspector", 0)
    cfg = LprConfig()
    hit = await alerts.store(new("F 1 A", 10), None, cfg, PRE, POST)
    assert hit.watch_plate == "F 1 A" and hit.alert_event_id is not None
    (event,) = await catalog.list_events(EventFilter(kind=ALERT_KIND))
    assert (event.agency, event.severity, event.has_snapshot) == ("Polsek Gambir", "high", False)
