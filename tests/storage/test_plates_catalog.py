"""The catalog's plates: sightings with crops, exact/prefix/fuzzy search with filters, alerts, the watchlist."""

from __future__ import annotations

import dataclasses

import pytest

from nvr.errors import CatalogError
from nvr.plate_text import canonical
from nvr.storage.catalog import Catalog
from nvr.storage.plates_catalog import NewSighting, PlateQuery

S = 1_000_000
JPEG = b"\xff\xd8 not really a jpeg \xff\xd9"


def new(plate: str, t: int, camera: str = "cam1", **kw) -> NewSighting:
    return NewSighting(camera=camera, plate=plate, plate_key=canonical(plate), confidence=kw.pop("confidence", 0.9),
                       reads=kw.pop("reads", 3), agreement=kw.pop("agreement", 1.0), first_us=t * S,
                       last_us=(t + 2) * S, best_us=(t + 1) * S, footage_start_us=(t - 5) * S,
                       footage_end_us=(t + 7) * S, **kw)


@pytest.fixture
async def seeded(catalog: Catalog) -> Catalog:
    for name in ("cam1", "cam2"):
        await catalog.upsert_camera(name)
    for plate, t, cam in [("B 1234 XYZ", 100, "cam1"), ("B 1234 XYZ", 200, "cam2"), ("B 1284 XYZ", 300, "cam1"),
                          ("B 1234 XY", 400, "cam1"), ("B 12 A", 500, "cam2"), ("D 1234 XYZ", 600, "cam1"),
                          ("AB 27 KT", 700, "cam2"), ("B 1234 XYZ", 800, "cam1")]:
        await catalog.add_plate_sighting(new(plate, t, cam), JPEG, (60, 20))
    return catalog


async def search(catalog: Catalog, text: str, **kw) -> list[tuple[str, int]]:
    return [(s.plate, s.first_us // S) for s in await catalog.search_plates(PlateQuery(text, **kw))]


async def test_add_and_get_with_crop_and_alert_link(catalog: Catalog) -> None:
    await catalog.upsert_camera("cam1")
    s = await catalog.add_plate_sighting(new("B 1234 XYZ", 100, track_id=7, box=(0.1, 0.2, 0.3, 0.25),
                                             alternatives=(("B 1284 XYZ", 1),)), JPEG, (60, 20))
    assert (s.camera, s.plate, s.plate_key, s.reads, s.track_id, s.has_crop) == (
        "cam1", "B 1234 XYZ", "B1234XYZ", 3, 7, True)
    assert (s.first_us, s.best_us, s.last_us) == (100 * S, 101 * S, 102 * S)
    assert (s.footage_start_us, s.footage_end_us) == (95 * S, 107 * S)
    assert s.box == pytest.approx((0.1, 0.2, 0.3, 0.25)) and s.alternatives == (("B 1284 XYZ", 1),)
    assert s.alert_event_id is None and s.distance is None
    assert await catalog.get_plate_sighting(s.id) == s
    assert await catalog.plate_crop(s.id) == JPEG
    linked = await catalog.link_plate_alert(s.id, 42, "B 1234 XYZ")
    assert (linked.alert_event_id, linked.watch_plate) == (42, "B 1234 XYZ")
    no_crop = await catalog.add_plate_sighting(new("F 1 A", 200))
    assert not no_crop.has_crop and await catalog.plate_crop(no_crop.id) is None
    assert await catalog.get_plate_sighting(999) is None


async def test_bad_sightings_are_refused(catalog: Catalog) -> None:
    await catalog.upsert_camera("cam1")
    with pytest.raises(CatalogError, match="unknown camera"):
        await catalog.add_plate_sighting(new("B 1 A", 1, camera="nope"))
    with pytest.raises(CatalogError, match="letters and digits"):
        await catalog.add_plate_sighting(dataclasses.replace(new("B 1 A", 1), plate_key="B 1 A"))
    with pytest.raises(CatalogError, match="at least one read"):
        await catalog.add_plate_sighting(dataclasses.replace(new("B 1 A", 1), reads=0))


async def test_exact_search_newest_first_with_camera_and_time_filters(seeded: Catalog) -> None:
    assert await search(seeded, "b1234xyz") == [("B 1234 XYZ", 800), ("B 1234 XYZ", 200), ("B 1234 XYZ", 100)]
    assert await search(seeded, "B 1234 XYZ", cameras=("cam2",)) == [("B 1234 XYZ", 200)]
    assert await search(seeded, "B 1234 XYZ", cameras=()) == []
    # times select sightings overlapping [start, end): one seen 100-102 s overlaps [101, 150)
    assert await search(seeded, "B 1234 XYZ", start_us=101 * S, end_us=250 * S) == [("B 1234 XYZ", 200),
                                                                                     ("B 1234 XYZ", 100)]
    assert await search(seeded, "B 1234 XYZ", start_us=103 * S, end_us=200 * S) == []
    assert await search(seeded, "B 1234 XYZ", limit=1) == [("B 1234 XYZ", 800)]
    first = (await seeded.search_plates(PlateQuery("B 1234 XYZ", limit=1)))[0]
    assert await search(seeded, "B 1234 XYZ", before_id=first.id) == [("B 1234 XYZ", 200), ("B 1234 XYZ", 100)]
    assert await search(seeded, "B 9999 XYZ") == []


async def test_prefix_search(seeded: Catalog) -> None:
    assert {p for p, _ in await search(seeded, "B12", mode="prefix")} == {"B 1234 XYZ", "B 1284 XYZ", "B 1234 XY",
                                                                         "B 12 A"}
    assert await search(seeded, "AB", mode="prefix") == [("AB 27 KT", 700)]
    assert len(await search(seeded, "", mode="prefix")) == 8  # no text: everything, newest first


async def test_fuzzy_search_orders_by_distance_and_skips_near_misses(seeded: Catalog) -> None:
    found = await seeded.search_plates(PlateQuery("8 I234 XYZ", mode="fuzzy", max_distance=0.5))
    assert [(s.plate, s.distance) for s in found] == [("B 1234 XYZ", 0.5)] * 3
    found = await seeded.search_plates(PlateQuery("B 1234 XYZ", mode="fuzzy", max_distance=1.0))
    assert [(s.plate, s.distance) for s in found] == [
        ("B 1234 XYZ", 0.0), ("B 1234 XYZ", 0.0), ("B 1234 XYZ", 0.0),
        ("D 1234 XYZ", 1.0), ("B 1234 XY", 1.0), ("B 1284 XYZ", 1.0)]  # then newest first
    assert "B 12 A" not in {s.plate for s in found} and "AB 27 KT" not in {s.plate for s in found}
    assert await search(seeded, "B 1234 XYZ", mode="fuzzy", max_distance=0.0) == [
        ("B 1234 XYZ", 800), ("B 1234 XYZ", 200), ("B 1234 XYZ", 100)]
    assert await search(seeded, "B 1234 XYZ", mode="fuzzy", cameras=("cam2",)) == [("B 1234 XYZ", 200)]


async def test_bad_queries(seeded: Catalog) -> None:
    with pytest.raises(CatalogError, match="letter or digit"):
        await seeded.search_plates(PlateQuery(" - "))
    with pytest.raises(CatalogError, match="mode"):
        await seeded.search_plates(PlateQuery("B1", mode="regex"))  # type: ignore[arg-type]


async def test_old_sightings_are_deleted_with_their_crops(seeded: Catalog) -> None:
    assert await seeded.delete_plate_sightings_before(350 * S) == 3
    assert len(await search(seeded, "", mode="prefix")) == 5
    assert await seeded.delete_plate_sightings_before(350 * S) == 0


async def test_watchlist_add_list_remove(catalog: Catalog) -> None:
    entry = await catalog.add_watch_entry("b1234xyz", "stolen (LP/123/2026)", "Polda Metro Jaya", "critical",
                                          "inspector", 5 * S)
    assert (entry.plate, entry.plate_key, entry.severity, entry.created_by, entry.created_at) == (
        "B 1234 XYZ", "B1234XYZ", "critical", "inspector", 5 * S)
    with pytest.raises(CatalogError, match="already on the watchlist"):
        await catalog.add_watch_entry("B 1234 XYZ", "again", "x", "high", "inspector", 6 * S)
    with pytest.raises(CatalogError, match="not an Indonesian plate"):
        await catalog.add_watch_entry("B 12345", "r", "o", "high", "inspector", 6 * S)
    with pytest.raises(CatalogError, match="reason"):
        await catalog.add_watch_entry("B 1 A", " ", "o", "high", "inspector", 6 * S)
    with pytest.raises(CatalogError, match="severity"):
        await catalog.add_watch_entry("B 1 A", "r", "o", "urgent", "inspector", 6 * S)
    assert [e.plate for e in await catalog.list_watch_entries()] == ["B 1234 XYZ"]
    removed = await catalog.remove_watch_entry(entry.id, "inspector", 7 * S)
    assert removed.removed_at == 7 * S
    with pytest.raises(CatalogError, match="already removed"):
        await catalog.remove_watch_entry(entry.id, "inspector", 8 * S)
    with pytest.raises(CatalogError, match="unknown"):
        await catalog.remove_watch_entry(999, "inspector", 8 * S)
    assert await catalog.list_watch_entries() == []
    assert len(await catalog.list_watch_entries(include_removed=True)) == 1
    again = await catalog.add_watch_entry("B 1234 XYZ", "found again", "Polsek", "high", "inspector", 9 * S)
    assert again.id != entry.id
