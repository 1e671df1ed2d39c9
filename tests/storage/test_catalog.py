"""Behaviour of the Catalog interface, run against every backend."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from nvr.clock import ManualClock, now_us
from nvr.errors import CatalogError
from nvr.models import MEDIA_TIMEBASE, Run, Segment
from nvr.storage.catalog import MAX_SEGMENT_WALL_US, Catalog, open_catalog
from nvr.storage.migrations import load_migrations

S = 1_000_000  # one second in µs
T0 = 1_700_000_000 * S


async def add(cat: Catalog, run: Run, start: int, end: int, **kw: Any) -> Segment:
    """Add a segment with plausible defaults."""
    path = kw.pop("path", f"cam/{run.id}/{start}.mp4")
    fields: dict[str, Any] = {
        "run_id": run.id, "start_time": start, "end_time": end,
        "media_duration": (end - start) * MEDIA_TIMEBASE // S, "path": path, "size_bytes": 1000,
        "sha256": hashlib.sha256(path.encode()).hexdigest(), "frames": 50, "keyframes": 2,
        "codec": "h264", "width": 1920, "height": 1080,
    }
    fields.update(kw)
    return await cat.add_segment(**fields)


@pytest.fixture
async def run(catalog: Catalog) -> Run:
    await catalog.upsert_camera("cam-a", kelurahan="Menteng", kecamatan="Menteng", lat=-6.19, lon=106.83)
    return await catalog.start_run("cam-a", T0)


# -- opening -------------------------------------------------------------------


async def test_schema_version_is_latest(catalog: Catalog) -> None:
    assert await catalog.schema_version() == load_migrations()[-1].version


@pytest.mark.parametrize("form", ["url", "four_slashes", "plain"])
async def test_open_by_url_or_plain_path(tmp_path: Path, form: str) -> None:
    db = tmp_path / "sub" / "catalog.db"
    url = {"url": f"sqlite://{db}", "four_slashes": f"sqlite:///{db}", "plain": str(db)}[form]
    async with await open_catalog(url) as cat:
        await cat.set_meta("k", "v")
    assert db.exists()
    async with await open_catalog(f"sqlite://{db}") as cat:
        assert await cat.get_meta("k") == "v"


async def test_open_memory() -> None:
    cat = await open_catalog("sqlite://:memory:")
    try:
        await cat.upsert_camera("x")
        assert [c.name for c in await cat.list_cameras()] == ["x"]
    finally:
        await cat.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u@127.0.0.1:1/db", "catalog _open_sync failed: .*refused"),
        ("postgres://u@127.0.0.1:5432/db?schema=no-dash", "schema must be letters, digits and _"),
        ("mysql://h/db", "unknown catalog URL scheme 'mysql'"),
        ("sqlite://relative.db", "sqlite:///absolute/path.db"),
        ("", "empty catalog URL"),
    ],
)
async def test_open_rejects_bad_urls(url: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        await open_catalog(url)


async def test_closed_catalog_refuses_calls(catalog_url: str) -> None:
    cat = await open_catalog(catalog_url)
    await cat.close()
    await cat.close()  # idempotent
    with pytest.raises(CatalogError, match="closed"):
        await cat.list_cameras()


async def test_data_survives_reopen(catalog_url: str) -> None:
    async with await open_catalog(catalog_url) as cat:
        await cat.upsert_camera("cam-a")
        r = await cat.start_run("cam-a", T0)
        await add(cat, r, T0, T0 + 60 * S)
    async with await open_catalog(catalog_url) as cat:
        assert (await cat.segment_totals("cam-a")) == (1, 1000)
        assert [x.id for x in await cat.open_runs()] == [r.id]


# -- cameras -------------------------------------------------------------------


async def test_upsert_camera_creates_then_updates(catalog: Catalog, clock: ManualClock) -> None:
    created = await catalog.upsert_camera("cam-a", "Menteng", "Menteng", -6.19, 106.83)
    assert (created.name, created.kelurahan, created.lat, created.lon) == ("cam-a", "Menteng", -6.19, 106.83)
    assert created.created_at == created.updated_at == now_us(clock)
    assert not created.removed

    clock.advance(10)
    same = await catalog.upsert_camera("cam-a", "Menteng", "Menteng", -6.19, 106.83)
    assert same == created  # nothing changed, updated_at untouched

    clock.advance(10)
    moved = await catalog.upsert_camera("cam-a", "Gondangdia", "Menteng", -6.18, 106.83)
    assert moved.id == created.id
    assert moved.kelurahan == "Gondangdia"
    assert moved.created_at == created.created_at
    assert moved.updated_at == now_us(clock)
    assert await catalog.get_camera("cam-a") == moved
    assert await catalog.get_camera("nope") is None


async def test_camera_removal_and_revival(catalog: Catalog, clock: ManualClock) -> None:
    await catalog.upsert_camera("b")
    await catalog.upsert_camera("a")
    removed = await catalog.mark_camera_removed("b")
    assert removed.removed and removed.removed_at == now_us(clock)
    clock.advance(5)
    again = await catalog.mark_camera_removed("b")
    assert again.removed_at == removed.removed_at  # idempotent
    assert [c.name for c in await catalog.list_cameras()] == ["a", "b"]
    assert [c.name for c in await catalog.list_cameras(include_removed=False)] == ["a"]
    revived = await catalog.upsert_camera("b")
    assert not revived.removed
    with pytest.raises(CatalogError, match="unknown camera 'zzz'"):
        await catalog.mark_camera_removed("zzz")
    with pytest.raises(CatalogError, match="empty"):
        await catalog.upsert_camera("")


# -- runs ----------------------------------------------------------------------


async def test_run_lifecycle(catalog: Catalog, run: Run) -> None:
    assert run.is_open and run.started_at == T0
    assert await catalog.open_runs() == [run]
    with pytest.raises(CatalogError, match="already has open run"):
        await catalog.start_run("cam-a", T0 + S)
    with pytest.raises(CatalogError, match="before its start"):
        await catalog.end_run(run.id, T0 - 1, "eof")
    ended = await catalog.end_run(run.id, T0 + 5 * S, "connection lost")
    assert (ended.ended_at, ended.reason_ended, ended.is_open) == (T0 + 5 * S, "connection lost", False)
    assert await catalog.get_run(run.id) == ended
    assert await catalog.open_runs() == []
    with pytest.raises(CatalogError, match="already ended"):
        await catalog.end_run(run.id, T0 + 6 * S, "again")
    second = await catalog.start_run("cam-a", T0 + 10 * S)
    assert second.id != run.id
    with pytest.raises(CatalogError, match="unknown run"):
        await catalog.end_run(9999, T0, "x")


async def test_start_run_needs_live_camera(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="unknown camera 'ghost'"):
        await catalog.start_run("ghost", T0)
    await catalog.upsert_camera("gone")
    await catalog.mark_camera_removed("gone")
    with pytest.raises(CatalogError, match="removed"):
        await catalog.start_run("gone", T0)


async def test_end_run_not_before_last_segment(catalog: Catalog, run: Run) -> None:
    await add(catalog, run, T0, T0 + 60 * S)
    with pytest.raises(CatalogError, match="last segment"):
        await catalog.end_run(run.id, T0 + 30 * S, "x")
    await catalog.end_run(run.id, T0 + 60 * S, "x")


# -- segments ------------------------------------------------------------------


async def test_add_segment_assigns_seq_and_fields(catalog: Catalog, run: Run) -> None:
    a = await add(catalog, run, T0, T0 + 60 * S)
    b = await add(catalog, run, T0 + 60 * S, T0 + 120 * S)  # touching is fine
    assert (a.seq, b.seq) == (0, 1)
    assert a.state == "ok" and a.camera_id == run.camera_id and a.run_id == run.id
    assert a.duration_s == pytest.approx(60.0) and a.wall_duration_s == pytest.approx(60.0)
    assert a.start.timestamp() == T0 / S
    assert await catalog.get_segment(a.id) == a
    assert await catalog.segment_by_path(b.path) == b
    c = await add(catalog, run, T0 + 125 * S, T0 + 130 * S, seq=10)  # explicit seq, gap in time
    assert c.seq == 10


async def test_add_segment_rejects_overlap(catalog: Catalog, run: Run) -> None:
    await add(catalog, run, T0, T0 + 60 * S, path="cam/first.mp4")
    with pytest.raises(CatalogError, match=r"overlapping the run's previous segment 'cam/first.mp4'"):
        await add(catalog, run, T0 + 59 * S, T0 + 120 * S)
    with pytest.raises(CatalogError, match="seq"):
        await add(catalog, run, T0 + 60 * S, T0 + 120 * S, seq=0)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"end_time": T0}, "must be after start_time"),
        ({"end_time": T0 - S}, "must be after start_time"),
        ({"end_time": T0 + MAX_SEGMENT_WALL_US + 1}, "spans more than"),
        ({"sha256": "abc"}, "sha256"),
        ({"path": "/abs/file.mp4"}, "relative"),
        ({"path": "cam/../x.mp4"}, "relative"),
        ({"keyframes": 60}, "keyframes"),
        ({"size_bytes": -1}, "negative"),
        ({"codec": ""}, "codec"),
    ],
)
async def test_add_segment_validates_fields(catalog: Catalog, run: Run, kw: dict[str, Any], message: str) -> None:
    kw = dict(kw)  # the parameter dict is shared by every backend's run of this test
    end = kw.pop("end_time", T0 + 60 * S)
    with pytest.raises(CatalogError, match=message):
        await add(catalog, run, T0, end, **kw)
    assert await catalog.segment_totals("cam-a") == (0, 0)


async def test_add_segment_needs_open_run_and_unique_path(catalog: Catalog, run: Run) -> None:
    with pytest.raises(CatalogError, match="unknown run 12345"):
        await add(catalog, Run(id=12345, camera_id=1, started_at=T0), T0, T0 + S)
    await add(catalog, run, T0, T0 + S, path="cam/x.mp4")
    with pytest.raises(CatalogError, match="already catalogued"):
        await add(catalog, run, T0 + S, T0 + 2 * S, path="cam/x.mp4")
    await catalog.end_run(run.id, T0 + 2 * S, "stop")
    with pytest.raises(CatalogError, match="has already ended"):
        await add(catalog, run, T0 + 2 * S, T0 + 3 * S)


async def test_segments_window_query(catalog: Catalog, run: Run) -> None:
    segs = [await add(catalog, run, T0 + i * 60 * S, T0 + (i + 1) * 60 * S) for i in range(5)]
    await catalog.end_run(run.id, T0 + 300 * S, "reconnect")
    run2 = await catalog.start_run("cam-a", T0 + 400 * S)
    later = await add(catalog, run2, T0 + 400 * S, T0 + 460 * S)
    await catalog.upsert_camera("cam-b")
    other = await catalog.start_run("cam-b", T0)
    await add(catalog, other, T0, T0 + 60 * S)

    got = await catalog.segments("cam-a", T0 + 90 * S, T0 + 150 * S)
    assert [s.id for s in got] == [segs[1].id, segs[2].id]
    # half-open: a window ending exactly at a segment start excludes it
    assert [s.id for s in await catalog.segments("cam-a", T0, T0 + 60 * S)] == [segs[0].id]
    assert [s.id for s in await catalog.segments("cam-a", T0 + 300 * S, T0 + 400 * S)] == []
    everything = await catalog.segments("cam-a", 0, T0 + 10_000 * S)
    assert [s.id for s in everything] == [s.id for s in segs] + [later.id]
    assert await catalog.segments("nobody", 0, T0 * 2) == []
    with pytest.raises(CatalogError, match="inverted"):
        await catalog.segments("cam-a", T0 + S, T0)
    assert await catalog.latest_segment("cam-a") == later
    assert await catalog.latest_segment("nobody") is None
    assert await catalog.segment_totals("cam-a") == (6, 6000)
    assert await catalog.segment_totals("nobody") == (0, 0)


async def test_two_phase_delete(catalog: Catalog, run: Run) -> None:
    a = await add(catalog, run, T0, T0 + 60 * S)
    b = await add(catalog, run, T0 + 60 * S, T0 + 120 * S)
    assert await catalog.garbage_segments() == []

    assert await catalog.mark_segment_garbage([a.id, 424242]) == 1
    assert await catalog.mark_segment_garbage([a.id]) == 0  # already garbage
    garbage = await catalog.garbage_segments()
    assert [g.id for g in garbage] == [a.id] and garbage[0].is_garbage
    # garbage is hidden from queries and totals
    assert [s.id for s in await catalog.segments("cam-a", 0, T0 * 2)] == [b.id]
    assert await catalog.segment_totals("cam-a") == (1, 1000)

    with pytest.raises(CatalogError, match="not marked garbage"):
        await catalog.delete_segments([a.id, b.id])
    assert await catalog.get_segment(a.id) is not None  # nothing deleted

    assert await catalog.delete_segments([a.id]) == 1
    assert await catalog.delete_segments([a.id]) == 0  # recovery may repeat itself
    assert await catalog.get_segment(a.id) is None
    assert await catalog.garbage_segments() == []
    # the overlap check still uses the newest remaining segment of the run
    with pytest.raises(CatalogError, match="overlapping"):
        await add(catalog, run, T0 + 100 * S, T0 + 130 * S)


# -- users and sessions ----------------------------------------------------------


async def test_users(catalog: Catalog, clock: ManualClock) -> None:
    assert await catalog.count_users() == 0
    admin = await catalog.create_user("zed", "hash1", "admin")
    op = await catalog.create_user("amy", "hash2", "operator", kelurahan="Menteng")
    assert (admin.role, admin.kelurahan, admin.disabled, admin.created_at) == ("admin", None, False, now_us(clock))
    assert op.kelurahan == "Menteng"
    assert await catalog.count_users() == 2
    assert [u.username for u in await catalog.list_users()] == ["amy", "zed"]
    assert await catalog.get_user("amy") == op
    assert await catalog.get_user_by_id(admin.id) == admin
    assert await catalog.get_user("nobody") is None
    assert await catalog.get_user_by_id(999) is None
    with pytest.raises(CatalogError, match="already exists"):
        await catalog.create_user("amy", "h", "viewer")
    with pytest.raises(CatalogError, match="unknown role 'root'"):
        await catalog.create_user("bob", "h", "root")


async def test_disable_and_password_change_drop_sessions(catalog: Catalog) -> None:
    u = await catalog.create_user("amy", "h1", "viewer")
    await catalog.create_session("t1", u.id, "c1", T0)
    disabled = await catalog.set_user_disabled(u.id, True)
    assert disabled.disabled and (await catalog.get_user("amy")).disabled  # type: ignore[union-attr]
    assert await catalog.get_session("t1") is None
    await catalog.set_user_disabled(u.id, False)
    await catalog.create_session("t2", u.id, "c2", T0)
    changed = await catalog.set_password_hash(u.id, "h2")
    assert changed.password_hash == "h2"
    assert await catalog.get_session("t2") is None
    with pytest.raises(CatalogError, match="unknown user id"):
        await catalog.set_password_hash(999, "x")


async def test_sessions(catalog: Catalog, clock: ManualClock) -> None:
    u = await catalog.create_user("amy", "h", "viewer")
    now = now_us(clock)
    s = await catalog.create_session("tok-hash", u.id, "csrf", now + 3600 * S)
    assert (s.user_id, s.csrf_token, s.created_at, s.last_seen_at) == (u.id, "csrf", now, now)
    assert not s.is_expired(now) and s.is_expired(now + 3600 * S)
    assert await catalog.get_session("tok-hash") == s
    with pytest.raises(CatalogError, match="already exists"):
        await catalog.create_session("tok-hash", u.id, "csrf", now)
    with pytest.raises(CatalogError, match="unknown user id 999"):
        await catalog.create_session("other", 999, "csrf", now)

    assert await catalog.touch_session("tok-hash", now + 10 * S)
    touched = await catalog.get_session("tok-hash")
    assert touched is not None and touched.last_seen_at == now + 10 * S and touched.expires_at == s.expires_at
    assert await catalog.touch_session("tok-hash", now + 20 * S, expires_at_us=now + 7200 * S)
    assert (await catalog.get_session("tok-hash")).expires_at == now + 7200 * S  # type: ignore[union-attr]
    assert not await catalog.touch_session("missing", now)

    await catalog.create_session("old", u.id, "c", now + S)
    await catalog.create_session("other", u.id, "c", now + 7200 * S)
    assert await catalog.delete_expired_sessions(now + S) == 1
    assert await catalog.get_session("old") is None
    assert await catalog.delete_session("other")
    assert not await catalog.delete_session("other")
    assert await catalog.delete_user_sessions(u.id) == 1


async def test_meta(catalog: Catalog) -> None:
    assert await catalog.get_meta("secret_key") is None
    await catalog.set_meta("secret_key", "abc")
    await catalog.set_meta("secret_key", "def")
    assert await catalog.get_meta("secret_key") == "def"


async def test_clock_stamps_segment_created_at(catalog: Catalog, run: Run, clock: ManualClock) -> None:
    clock.advance(timedelta(hours=1))
    seg = await add(catalog, run, T0, T0 + S)
    assert seg.created_at == now_us(clock)


async def test_set_user_role_changes_role_and_scope_and_ends_sessions(catalog):
    from nvr.errors import CatalogError

    user = await catalog.create_user("ana", "hash", "viewer", "Menteng")
    await catalog.create_session("tok", user.id, "csrf", 10**18)
    changed = await catalog.set_user_role(user.id, "operator", None)
    assert (changed.role, changed.kelurahan) == ("operator", None)
    assert await catalog.get_session("tok") is None
    with pytest.raises(CatalogError):
        await catalog.set_user_role(user.id, "emperor", None)
    with pytest.raises(CatalogError):
        await catalog.set_user_role(9999, "viewer", None)
