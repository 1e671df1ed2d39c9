"""The catalog's complaint methods: idempotent intake, the reporter apart, links with holds, audited status moves."""

from __future__ import annotations

import asyncio

import pytest

from nvr.errors import CatalogError
from nvr.storage.catalog import Catalog
from nvr.storage.complaints_catalog import ComplaintConflict, ComplaintFilter, NewCameraLink, NewComplaint, Reporter
from nvr.storage.events_catalog import NewEvent

S = 1_000_000
T0 = 1_767_225_600 * S  # 2026-01-01T00:00:00Z
SECRET = Reporter(name="Siti Rahayu", contact="+62 812 0000 1111", reporter_ref="jaki-user-77")


def complaint(external_id: str = "JAKI-1", reported: int = T0, **kw) -> NewComplaint:
    base = dict(external_id=external_id, category="banjir", body="Air setinggi lutut di Jl. Kebon Sirih",
                lat=-6.1820, lon=106.8250, reported_us=reported, agency="Dinas Sumber Daya Air", reporter=SECRET)
    return NewComplaint(**{**base, **kw})


async def test_add_is_idempotent_on_the_external_id_and_keeps_the_reporter_apart(catalog: Catalog) -> None:
    first, created = await catalog.add_complaint(complaint(photo=("image/jpeg", b"\xff\xd8\xffphoto")))
    assert created and first.status == "new" and first.has_photo and first.linked_us is None
    again, created = await catalog.add_complaint(complaint(body="a different text"))
    assert not created and again == first
    assert await catalog.complaint_reporter(first.id) == SECRET
    assert await catalog.complaint_photo(first.id) == ("image/jpeg", b"\xff\xd8\xffphoto")
    assert await catalog.complaint_by_external_id("JAKI-1") == first
    assert "Siti" not in repr(first) and "Siti" not in repr(SECRET) and "Siti" not in repr(complaint())
    other, _ = await catalog.add_complaint(complaint("JAKI-2", reporter=None), "jaki-bot")
    assert await catalog.complaint_reporter(other.id) is None and await catalog.complaint_photo(other.id) is None
    (entry, *_) = await catalog.audit_entries(action="complaint.received")
    assert "Siti" not in str(entry.detail) and entry.target == f"complaint:{other.id}" and entry.actor == "jaki-bot"


async def test_concurrent_adds_of_one_id_store_it_once(catalog: Catalog) -> None:
    results = await asyncio.gather(*(catalog.add_complaint(complaint("JAKI-9")) for _ in range(8)))
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert len({c.id for c, _ in results}) == 1
    assert await catalog.count_complaints(ComplaintFilter()) == 1


async def test_list_filters_scope_and_pages(catalog: Catalog) -> None:
    for i, (category, kelurahan) in enumerate([("banjir", "Menteng"), ("sampah", "Menteng"), ("banjir", "Gambir"),
                                               ("banjir", None)]):
        await catalog.add_complaint(complaint(f"K-{i}", T0 + i * S, category=category, kelurahan=kelurahan))
    ids = lambda found: [c.external_id for c in found]  # noqa: E731
    assert ids(await catalog.list_complaints(ComplaintFilter())) == ["K-3", "K-2", "K-1", "K-0"]  # newest first
    assert ids(await catalog.list_complaints(ComplaintFilter(category="banjir", scope=("Menteng",)))) == ["K-0"]
    assert ids(await catalog.list_complaints(ComplaintFilter(kelurahan="Gambir"))) == ["K-2"]
    window = ComplaintFilter(reported_after_us=T0 + S, reported_before_us=T0 + 3 * S)
    assert ids(await catalog.list_complaints(window)) == ["K-2", "K-1"]
    assert ids(await catalog.list_complaints(ComplaintFilter(limit=2, offset=2))) == ["K-1", "K-0"]
    assert ids(await catalog.list_complaints(ComplaintFilter(statuses=()))) == []
    assert ids(await catalog.list_complaints(ComplaintFilter(scope=()))) == []
    assert ids(await catalog.list_complaints(ComplaintFilter(scope=("Gambir", "Menteng")))) == ["K-2", "K-1", "K-0"]
    assert await catalog.count_complaints(ComplaintFilter(scope=("Menteng",))) == 2
    assert await catalog.complaint_kelurahans() == ["Gambir", "Menteng"]


async def test_link_adds_holds_once_and_moves_new_to_linked(catalog: Catalog) -> None:
    for name, kel in (("cam-a", "Menteng"), ("cam-b", "Gambir")):
        await catalog.upsert_camera(name, kelurahan=kel)
    event_id = await catalog.add_event("cam-b", "fire", T0 - 60 * S, T0)
    stored, _ = await catalog.add_complaint(complaint())
    window = (T0 - 1800 * S, T0 + 600 * S)
    links = [NewCameraLink("cam-a", 0, 40.0, 90.0, True, *window),
             NewCameraLink("cam-b", 1, 120.5, 10.0, None, *window)]
    linked, new_links, new_events = await catalog.link_complaint(
        stored.id, links, [(event_id, T0 - 70 * S, T0 + 5 * S)], "Menteng", "system:complaints", T0 + S)
    assert linked.status == "linked" and linked.kelurahan == "Menteng" and linked.linked_us == T0 + S
    assert [(x.camera, x.rank, x.facing, x.distance_m) for x in new_links] == [("cam-a", 0, True, 40.0),
                                                                               ("cam-b", 1, None, 120.5)]
    assert new_events == [event_id]
    holds = {h.id: h for h in await catalog.active_holds(T0 + 10 * 86_400 * S)}
    assert {(holds[x.hold_id].camera_name, holds[x.hold_id].start_time, holds[x.hold_id].end_time)
            for x in new_links} == {("cam-a", *window), ("cam-b", *window)}
    (ev,) = await catalog.complaint_events(stored.id)
    assert (ev.event_id, ev.camera, ev.kind) == (event_id, "cam-b", "fire")
    assert holds[ev.hold_id].start_time == T0 - 70 * S and holds[ev.hold_id].expires_at is None
    # linking again adds nothing and takes no new hold; the kelurahan once set stays
    reranked = [NewCameraLink("cam-b", 0, 120.5, 10.0, True, *window),
                NewCameraLink("cam-a", 1, 40.0, 90.0, None, *window)]
    again, more, more_events = await catalog.link_complaint(stored.id, reranked, [(event_id, 0, 1)], "Gambir",
                                                            "system:complaints", T0 + 2 * S)
    assert (more, more_events, again.kelurahan) == ([], [], "Menteng")
    assert len(await catalog.list_holds()) == 3
    assert [x.camera for x in await catalog.complaint_cameras(stored.id)] == ["cam-b", "cam-a"]  # ranks follow
    with pytest.raises(CatalogError, match="unknown camera"):
        await catalog.link_complaint(stored.id, [NewCameraLink("nope", 0, 1, 1, None, *window)], [], None, "x", T0)
    assert len(await catalog.list_holds()) == 3  # nothing partial


async def test_status_moves_are_checked_audited_and_closing_starts_the_holds_countdown(catalog: Catalog) -> None:
    await catalog.upsert_camera("cam-a")
    stored, _ = await catalog.add_complaint(complaint())
    await catalog.link_complaint(stored.id, [NewCameraLink("cam-a", 0, 5, 0, None, T0, T0 + S)], [], None, "sys", T0)
    with pytest.raises(ComplaintConflict, match="status"):
        await catalog.set_complaint_status(stored.id, "closed", ("responded",), "op", None, T0 + S)
    moved = await catalog.set_complaint_status(stored.id, "in_progress", ("new", "linked"), "op", "on it", T0 + S)
    assert moved.status == "in_progress" and moved.updated_us == T0 + S
    answered = await catalog.set_complaint_status(stored.id, "responded", ("in_progress",), "op", None, T0 + 2 * S)
    assert answered.responded_us == T0 + 2 * S
    closed = await catalog.set_complaint_status(stored.id, "closed", ("responded",), "op", None, T0 + 3 * S,
                                                hold_expires_us=T0 + 99 * S)
    assert closed.closed_us == T0 + 3 * S
    (hold,) = await catalog.list_holds()
    assert hold.expires_at == T0 + 99 * S and hold.is_active(T0 + 98 * S) and not hold.is_active(T0 + 99 * S)
    trail = [(e.actor, e.detail.get("from"), e.detail.get("to"), e.detail.get("note"))
             for e in reversed(await catalog.audit_entries(action="complaint.status"))]
    assert trail == [("sys", "new", "linked", None), ("op", "linked", "in_progress", "on it"),
                     ("op", "in_progress", "responded", None), ("op", "responded", "closed", None)]
    with pytest.raises(CatalogError, match="unknown complaint"):
        await catalog.set_complaint_status(999, "closed", ("responded",), "op", None, T0)
    with pytest.raises(CatalogError, match="unknown status"):
        await catalog.set_complaint_status(stored.id, "done", ("closed",), "op", None, T0)


async def test_events_link_needs_known_events(catalog: Catalog) -> None:
    await catalog.upsert_camera("cam-a")
    stored, _ = await catalog.add_complaint(complaint())
    with pytest.raises(CatalogError, match="unknown event"):
        await catalog.link_complaint(stored.id, [], [(424242, T0, T0 + S)], None, "sys", T0)
    ev = await catalog.open_event(NewEvent(camera="cam-a", kind="crowd", label="person", score=0.8, start_us=T0,
                                           end_us=T0 + S))
    linked, _, events = await catalog.link_complaint(stored.id, [], [(ev.id, T0, T0 + S)], None, "sys", T0)
    assert events == [ev.id] and linked.status == "linked"
