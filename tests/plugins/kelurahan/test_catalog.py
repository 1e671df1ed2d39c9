"""The kelurahan catalog records, on SQLite and PostgreSQL: migration 0008 keeps users, sessions and tokens;
shares, escalations, deliveries; kelurahan roles need a scope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nvr.errors import CatalogError
from nvr.storage.catalog import open_catalog
from nvr.storage.events_catalog import NewEvent
from nvr.storage.kelurahan_catalog import NewShare
from nvr.storage.migrations import load_migrations

FAR = 4_102_444_800_000_000  # 2100-01-01


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh catalog location on either backend (the same migrations run on both)."""
    if request.param == "sqlite":
        yield str(tmp_path / "c.db")
        return
    from tests.pg import pg_schema

    with pg_schema("kel") as pg_url:
        yield pg_url


async def test_migration_keeps_users_sessions_and_tokens(url: str) -> None:
    before = [m for m in load_migrations() if m.version < 8]
    async with await open_catalog(url, migrations=before) as cat:
        user = await cat.create_user("ani", "hash", "operator", "Menteng")
        await cat.create_session("sess", user.id, "csrf", FAR)
        await cat.create_api_token(user.id, "grafana", "tok")
        with pytest.raises(CatalogError):
            await cat.create_user("budi", "hash", "duty_officer", "Menteng")  # not a role before 0008
    async with await open_catalog(url) as cat:
        assert await cat.schema_version() >= 8
        assert (await cat.get_user("ani")).kelurahan == "Menteng"
        assert (await cat.get_session("sess")).user_id == user.id
        assert await cat.api_token_user("tok", 1) == user.id
        duty = await cat.create_user("budi", "hash", "duty_officer", "kecamatan:Menteng")
        assert duty.role == "duty_officer" and duty.kelurahan == "kecamatan:Menteng"
        with pytest.raises(CatalogError, match="must be bound to a kelurahan"):
            await cat.create_user("cici", "hash", "kelurahan_viewer", None)
        with pytest.raises(CatalogError, match="must be bound to a kelurahan"):
            await cat.set_user_role(user.id, "kelurahan_viewer", None)


async def test_shares(url: str) -> None:
    async with await open_catalog(url) as cat:
        live = await cat.create_share(NewShare("cam1", "live", "ani", FAR, label="banjir"))
        clip = await cat.create_share(NewShare("cam2", "clip", "ani", FAR, 1_000, 2_000))
        assert (live.kind, live.start_us, live.uses, live.label) == ("live", None, 0, "banjir")
        assert (clip.start_us, clip.end_us) == (1_000, 2_000)
        assert [s.id for s in await cat.list_shares()] == [clip.id, live.id]
        assert [s.id for s in await cat.list_shares(("cam1",))] == [live.id]
        assert await cat.list_shares(()) == []
        await cat.record_share_use(live.id, 5)
        await cat.record_share_use(live.id, 6)
        got = await cat.get_share(live.id)
        assert (got.uses, got.last_used_at) == (2, 6) and got.live(7)
        revoked = await cat.revoke_share(live.id, "admin", 10)
        again = await cat.revoke_share(live.id, "other", 20)
        assert (revoked.revoked_at, again.revoked_at, again.revoked_by) == (10, 10, "admin") and not again.live(11)
        assert await cat.get_share(999) is None
        for bad, message in ((NewShare("c", "clip", "a", FAR, 5, 5), "start_us < end_us"),
                             (NewShare("c", "photo", "a", FAR), "live or clip"),
                             (NewShare("c", "live", "a", 1), "in the future")):
            with pytest.raises(CatalogError, match=message):
                await cat.create_share(bad)
        with pytest.raises(CatalogError, match="unknown share link"):
            await cat.revoke_share(999, "a", 1)


async def test_escalations_and_deliveries(url: str) -> None:
    async with await open_catalog(url) as cat:
        await cat.upsert_camera("cam1")
        ev = await cat.open_event(NewEvent(camera="cam1", kind="crowd", label="person", score=0.9,
                                           start_us=1_000_000, end_us=2_000_000))
        esc = await cat.add_escalation(ev.id, " Satpol PP ", "tawuran", "piket", 5)
        assert (esc.agency, esc.note, esc.escalated_by) == ("Satpol PP", "tawuran", "piket")
        assert [e.id for e in await cat.escalations((ev.id, 999))] == [esc.id]
        with pytest.raises(CatalogError, match="unknown event"):
            await cat.add_escalation(999, "Damkar", None, "piket", 5)
        with pytest.raises(CatalogError, match="agency"):
            await cat.add_escalation(ev.id, " ", None, "piket", 5)
        d = await cat.add_delivery("rw05", "event", ev.id, '{"a": 1}')
        assert (d.state, d.attempts, d.delivered_at) == ("pending", 0, None)
        d = await cat.update_delivery(d.id, "pending", 1, 500, "HTTP 500")
        d = await cat.update_delivery(d.id, "delivered", 2, 200, None)
        assert (d.state, d.attempts, d.last_status) == ("delivered", 2, 200) and d.delivered_at is not None
        assert [x.id for x in await cat.list_deliveries("rw05")] == [d.id]
        assert await cat.list_deliveries("other") == []
        with pytest.raises(CatalogError, match="state"):
            await cat.update_delivery(d.id, "lost", 1, None, None)


async def test_event_deliveries_and_a_raised_severity(url: str) -> None:
    """What the notifier reads back after a restart (an event's deliveries of a kind, oldest first), and the
    severity an escalation raises."""
    async with await open_catalog(url) as cat:
        await cat.upsert_camera("cam1")
        ev, other = [await cat.open_event(NewEvent(camera="cam1", kind="crowd", label="person", score=0.9,
                                                   start_us=1_000_000, end_us=2_000_000, severity="medium"))
                     for _ in range(2)]
        first = await cat.add_delivery("rw05", "event", ev.id, '{"severity": "high"}')
        await cat.add_delivery("rw05", "escalation", ev.id, "{}")
        await cat.add_delivery("rw05", "event", other.id, "{}")
        second = await cat.add_delivery("rw06", "event", ev.id, '{"severity": "critical"}')
        await cat.update_delivery(second.id, "failed", 5, None, "refused")
        assert [(d.id, d.state) for d in await cat.event_deliveries(ev.id)] == [(first.id, "pending"),
                                                                                 (second.id, "failed")]
        assert len(await cat.event_deliveries(ev.id, "escalation")) == 1 and await cat.event_deliveries(999) == []
        raised = await cat.update_event(ev.id, severity="critical")
        assert raised.severity == "critical" and (await cat.get_event(ev.id)).severity == "critical"
        assert (await cat.update_event(ev.id, score=0.95)).severity == "critical"  # kept unless given
