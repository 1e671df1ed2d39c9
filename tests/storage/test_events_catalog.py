"""The catalog's events: open, update, end, snapshots, acknowledgement, filters and paging."""

from __future__ import annotations

import pytest

from nvr.errors import CatalogError
from nvr.storage.catalog import Catalog
from nvr.storage.events_catalog import EventFilter, NewEvent

S = 1_000_000


async def cams(catalog: Catalog, *names: str) -> None:
    for name in names:
        await catalog.upsert_camera(name)


def new(camera: str = "cam1", label: str = "person", start: int = 100 * S, **kw) -> NewEvent:
    return NewEvent(camera=camera, kind=kw.pop("kind", "object"), label=label, score=kw.pop("score", 0.7),
                    start_us=start, end_us=kw.pop("end", start), **kw)


async def test_open_update_end(catalog: Catalog):
    await cams(catalog, "cam1")
    ev = await catalog.open_event(new(track_id=7, box=(0.1, 0.2, 0.3, 0.4), zones=("gate",), pre_roll_us=5 * S,
                                      post_roll_us=3 * S))
    assert ev.ongoing and ev.camera == "cam1" and ev.track_id == 7 and ev.zones == ("gate",)
    assert ev.box == pytest.approx((0.1, 0.2, 0.3, 0.4)) and not ev.has_snapshot
    assert ev.footage == (95 * S, 103 * S)
    ev = await catalog.update_event(ev.id, end_us=110 * S, score=0.9, zones=["gate", "road"])
    assert (ev.end_us, ev.score, ev.zones, ev.ongoing) == (110 * S, 0.9, ("gate", "road"), True)
    ev = await catalog.update_event(ev.id, end_us=50 * S, ongoing=False)  # never before the start
    assert ev.end_us == ev.start_us and not ev.ongoing
    assert await catalog.get_event(ev.id) == ev


async def test_windows_used_by_retention_include_analysis_events(catalog: Catalog):
    await cams(catalog, "cam1")
    ev = await catalog.open_event(new(start=10 * S, end=20 * S))
    assert await catalog.event_windows("cam1", 0, 100 * S) == [(ev.start_us, ev.end_us)]


async def test_bad_events_are_refused(catalog: Catalog):
    await cams(catalog, "cam1")
    with pytest.raises(CatalogError, match="unknown camera"):
        await catalog.open_event(new(camera="nope"))
    with pytest.raises(CatalogError, match="ends before"):
        await catalog.open_event(new(start=10, end=5))
    with pytest.raises(CatalogError, match="unknown event"):
        await catalog.update_event(12345, end_us=1)
    with pytest.raises(CatalogError, match="unknown event"):
        await catalog.set_event_snapshot(12345, b"x", 1, 1, 0)


async def test_snapshot_roundtrip_and_replace(catalog: Catalog):
    await cams(catalog, "cam1")
    ev = await catalog.open_event(new())
    assert await catalog.event_snapshot(ev.id) is None
    await catalog.set_event_snapshot(ev.id, b"\xff\xd8first", 640, 360, 1)
    await catalog.set_event_snapshot(ev.id, b"\xff\xd8second", 640, 360, 2)
    assert await catalog.event_snapshot(ev.id) == b"\xff\xd8second"
    assert (await catalog.get_event(ev.id)).has_snapshot


async def test_acknowledge(catalog: Catalog):
    await cams(catalog, "cam1")
    ev = await catalog.open_event(new())
    ack = await catalog.acknowledge_event(ev.id, "petugas1", "checked on site", 200 * S)
    assert (ack.acknowledged_by, ack.ack_note, ack.acknowledged_at) == ("petugas1", "checked on site", 200 * S)
    with pytest.raises(CatalogError):
        await catalog.acknowledge_event(ev.id, "", None, 1)


async def test_end_ongoing_events_after_a_crash(catalog: Catalog):
    await cams(catalog, "cam1")
    a = await catalog.open_event(new())
    b = await catalog.open_event(new())
    await catalog.update_event(b.id, ongoing=False)
    assert await catalog.end_ongoing_events(300 * S) == 1
    assert not (await catalog.get_event(a.id)).ongoing
    assert await catalog.end_ongoing_events(301 * S) == 0


async def test_filters_and_paging(catalog: Catalog):
    await cams(catalog, "cam1", "cam2")
    ids = []
    for i in range(6):
        ev = await catalog.open_event(new(camera=f"cam{1 + i % 2}", label="person" if i < 4 else "car",
                                          start=i * 10 * S, end=i * 10 * S + 5 * S, zones=("gate",) if i == 2 else ()))
        ids.append(ev.id)
    await catalog.acknowledge_event(ids[0], "op", None, 1)

    async def listed(**kw) -> list[int]:
        return [e.id for e in await catalog.list_events(EventFilter(**kw))]

    assert await listed() == ids[::-1]
    assert await listed(cameras=("cam1",)) == [ids[4], ids[2], ids[0]]
    assert await listed(cameras=()) == []
    assert await listed(label="car") == [ids[5], ids[4]]
    assert await listed(zone="gate") == [ids[2]]
    assert await listed(start_us=22 * S, end_us=41 * S) == [ids[4], ids[3], ids[2]]
    assert await listed(acknowledged=True) == [ids[0]]
    assert await listed(acknowledged=False, limit=2) == [ids[5], ids[4]]
    assert await listed(before_id=ids[2]) == [ids[1], ids[0]]
    assert await listed(ongoing=True) == ids[::-1]


async def test_event_windows_include_pre_and_post_roll(catalog: Catalog):
    await cams(catalog, "cam1")
    await catalog.open_event(new(start=100 * S, end=110 * S, pre_roll_us=5 * S, post_roll_us=300 * S))
    assert await catalog.event_windows("cam1", 0, 1000 * S) == [(95 * S, 410 * S)]
    assert await catalog.event_windows("cam1", 400 * S, 500 * S) == [(95 * S, 410 * S)]  # only the roll overlaps
    assert await catalog.event_windows("cam1", 411 * S, 500 * S) == []
    assert await catalog.event_windows("cam1", 0, 95 * S) == []
    assert await catalog.event_windows("cam1", 0, 96 * S) == [(95 * S, 410 * S)]


async def test_open_event_with_its_snapshot_in_one_step(catalog: Catalog):
    from nvr.storage.events_catalog import Snapshot

    await cams(catalog, "cam1")
    ev = await catalog.open_event(new(), Snapshot(b"\xff\xd8one", 640, 360, 100 * S))
    assert ev.has_snapshot and await catalog.event_snapshot(ev.id) == b"\xff\xd8one"
