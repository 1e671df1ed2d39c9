"""Camera leases on a real PostgreSQL: shares by capacity, pins, takeover after expiry, and fencing."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from nvr.errors import CatalogError
from nvr.storage.catalog import Catalog, open_catalog
from nvr.storage.postgres_leases import LeaseStore, fair_shares
from tests.pg import pg_schema

S = 1_000_000
CAMS = [f"cam{i:02d}" for i in range(12)]


def test_fair_shares_follow_capacity_and_never_exceed_it() -> None:
    assert fair_shares(12, {"a": 50, "b": 50, "c": 50}) == {"a": 4, "b": 4, "c": 4}
    assert fair_shares(12, {"a": 100, "b": 50}) == {"a": 8, "b": 4}
    assert fair_shares(10, {"a": 50, "b": 50, "c": 50}) == {"a": 4, "b": 3, "c": 3}
    assert fair_shares(12, {"a": 3, "b": 100}) == {"a": 0, "b": 12}  # largest remainder
    assert fair_shares(12, {"a": 2, "b": 3}) == {"a": 2, "b": 3}  # too few slots: each node at its capacity
    assert fair_shares(5, {"a": 0}) == {"a": 0}


@pytest.fixture
def url() -> Iterator[str]:
    with pg_schema("lease") as u:
        yield u


@pytest.fixture
async def catalog(url: str) -> AsyncIterator[Catalog]:
    async with await open_catalog(url) as cat:
        for name in CAMS:
            await cat.upsert_camera(name)
        yield cat


def store(url: str, node: str, capacity: int = 50, ttl_s: float = 30) -> LeaseStore:
    s = LeaseStore(url, node, capacity, int(ttl_s * S))
    s.open()
    s.join(f"http://127.0.0.1:1/{node}")
    return s


async def test_nodes_share_by_capacity_and_hand_back_when_one_joins(catalog: Catalog, url: str) -> None:
    a = store(url, "a", capacity=100)
    a.sync_cameras({c: None for c in CAMS})
    first = a.cycle(CAMS)
    assert len(first.held) == 12 and first.target == 12  # alone: everything
    b = store(url, "b", capacity=50)
    assert b.cycle(CAMS).claimed == []  # nothing free yet
    handed = a.cycle(CAMS)  # a sees b alive: its share is 8, so 4 go back
    assert handed.target == 8 and len(handed.release) == 4
    assert a.release(handed.release) == 4
    took = b.cycle(CAMS)
    assert sorted(took.claimed) == sorted(handed.release) and len(took.held) == 4
    holders = await catalog.camera_holders()
    assert sorted(n for n, _ in holders.values()) == ["a"] * 8 + ["b"] * 4
    assert {c: g for c, (n, g) in holders.items() if n == "b"} == {c: 2 for c in handed.release}  # generation bumped
    nodes = {n.name: n for n in await catalog.list_nodes()}
    assert (nodes["a"].cameras, nodes["b"].cameras, nodes["b"].capacity) == (8, 4, 50)
    for s in (a, b):
        s.close()


async def test_uneven_shares_converge_without_flapping(catalog: Catalog, url: str) -> None:
    """5/5/2 (left by nodes joining at different moments) becomes 4/4/4, then stays put."""
    stores = {n: store(url, n) for n in "abc"}
    stores["a"].sync_cameras({c: None for c in CAMS})
    split = {"a": CAMS[:5], "b": CAMS[5:10], "c": CAMS[10:]}

    def assign(c) -> None:  # noqa: ANN001 - the worker's connection
        for node, cams in split.items():
            c.execute("UPDATE camera_leases SET node = ?, generation = 1, expires_at = ? WHERE camera_id IN"
                      f" (SELECT id FROM cameras WHERE name IN ({', '.join('?' * len(cams))}))",
                      (node, 2**62, *cams))

    await catalog.run_in_worker(assign)
    for _ in range(3):
        for s in stores.values():
            result = s.cycle(CAMS)
            s.release(result.release)
    counts = {n: len(s.cycle(CAMS).held) for n, s in stores.items()}
    assert counts == {"a": 4, "b": 4, "c": 4}
    assert all(not s.cycle(CAMS).release for s in stores.values())  # balanced: nobody hands anything back
    for s in stores.values():
        s.close()


async def test_pinned_cameras_go_to_their_node_while_it_lives(catalog: Catalog, url: str) -> None:
    a, b = store(url, "a"), store(url, "b")
    pins = {c: None for c in CAMS} | {"cam00": "b", "cam01": "b"}
    a.sync_cameras(pins)
    a.cycle(CAMS)
    assert "cam00" not in a.cycle(CAMS).held  # b is alive: a never takes b's pins
    assert {"cam00", "cam01"} <= set(b.cycle(CAMS).held)
    b.leave()  # b stops cleanly: its pinned cameras are free for others
    assert {"cam00", "cam01"} <= set(a.cycle(CAMS).held)
    for s in (a, b):
        s.close()


async def test_expired_lease_is_taken_over_and_the_stale_holder_is_fenced(catalog: Catalog, url: str) -> None:
    """Node a records cam00, is cut off past its lease; b takes over; a's late segment and new run are refused."""
    a, b = store(url, "a", ttl_s=1), store(url, "b", ttl_s=1)
    a.sync_cameras({"cam00": "a"})
    a.cycle(["cam00"])
    b.cycle(["cam00"])
    async with await open_catalog(url) as on_a:
        await on_a.set_node("a")  # the catalog connection of node a
        run = await on_a.start_run("cam00", 1_000 * S)
        await on_a.add_segment(**segment(run.id, 1_000, "a/cam00/1.mp4"))
        assert (await on_a.get_run(run.id)) is not None
        time.sleep(1.2)  # a is cut off: no renewal for longer than the TTL
        took = b.cycle(["cam00"])
        assert took.claimed == ["cam00"]
        ended = await catalog.get_run(run.id)
        assert ended is not None and ended.reason_ended == "lease taken over by b"
        with pytest.raises(CatalogError, match="already ended|fenced"):
            await on_a.add_segment(**segment(run.id, 1_010, "a/cam00/2.mp4"))
        with pytest.raises(CatalogError, match="fenced: node a holds no lease"):
            await on_a.start_run("cam00", 1_020 * S)
        assert "cam00" not in a.cycle(["cam00"]).held  # back online: a learns it lost the camera
        segs = await catalog.segments("cam00", 0, 2**62)
        assert [s.path for s in segs] == ["a/cam00/1.mp4"]
        assert await catalog.segment_nodes([segs[0].id]) == {segs[0].id: "a"}
    for s in (a, b):
        s.close()


async def test_fencing_checks_every_segment_insert_of_an_open_run(catalog: Catalog, url: str) -> None:
    """Even with its run still open (nobody ended it), a segment under an old lease generation is refused."""
    a = store(url, "a")
    a.sync_cameras({"cam00": None})
    a.cycle(["cam00"])
    async with await open_catalog(url) as on_a:
        await on_a.set_node("a")
        run = await on_a.start_run("cam00", 1_000 * S)
        a.release(["cam00"])
        a.cycle(["cam00"])  # a takes it again: generation 2, but the run was started under generation 1
        # The claim ended the run; open it again behind the catalog's back so only the trigger stands in the way.
        await catalog.run_in_worker(lambda c: c.execute("UPDATE runs SET ended_at = NULL WHERE id = ?", (run.id,)))
        with pytest.raises(CatalogError, match="fenced: segment a/cam00/1.mp4 .* generation 1"):
            await on_a.add_segment(**segment(run.id, 1_000, "a/cam00/1.mp4"))
    a.close()


async def test_a_node_changes_only_its_own_rows(catalog: Catalog, url: str) -> None:
    """Start-up recovery and retention of node b never touch node a's footage."""
    a = store(url, "a")
    a.sync_cameras({"cam00": None})
    a.cycle(["cam00"])
    async with await open_catalog(url) as on_a, await open_catalog(url) as on_b:
        await on_a.set_node("a")
        await on_b.set_node("b")
        run = await on_a.start_run("cam00", 1_000 * S)
        seg = await on_a.add_segment(**segment(run.id, 1_000, "a/cam00/1.mp4"))
        assert await on_b.segment_files() == []  # b's recovery does not see a's files as missing
        assert await on_b.mark_segment_garbage([seg.id]) == 0
        await on_b.end_open_runs("crash")
        assert (await catalog.get_run(run.id)).is_open
        assert (await catalog.get_segment(seg.id)).state == "ok"
        assert [r[1] for r in await on_a.segment_files()] == ["a/cam00/1.mp4"]
        # retention reads: b's caps and free-space floor see only b's disk, a's see a's
        assert await on_b.segments_before("cam00", 2**62, 10) == [] and await on_b.oldest_segments(10) == []
        assert [s.path for s in await on_a.segments_before("cam00", 2**62, 10)] == ["a/cam00/1.mp4"]
        assert [s.path for s in await on_a.oldest_segments(10, after=(0, 0))] == ["a/cam00/1.mp4"]
        usage = {n: {u.camera: (u.segments, u.bytes) for u in await cat.usage_by_camera()}
                 for n, cat in (("a", on_a), ("b", on_b))}
        assert usage["a"]["cam00"] == (1, 100) and usage["b"]["cam00"] == (0, 0)
        assert (await on_b.usage_since(0))[0] == [] and len((await on_a.usage_since(0))[0]) == 1
    a.close()


def segment(run_id: int, start_s: int, path: str) -> dict:
    return {"run_id": run_id, "start_time": start_s * S, "end_time": (start_s + 10) * S,
            "media_duration": 900_000, "path": path, "size_bytes": 100,
            "sha256": hashlib.sha256(path.encode()).hexdigest(), "frames": 250, "keyframes": 5, "codec": "h264"}


async def test_check_storage_on_a_shared_catalog_needs_the_node(catalog: Catalog, url: str, tmp_path) -> None:
    """`nvr check-storage` on node b must not take node a's footage for missing files (and --repair drop it)."""
    from nvr.cli_check_storage import check_storage

    a = store(url, "a")
    a.sync_cameras({"cam00": None})
    a.cycle(["cam00"])
    async with await open_catalog(url) as on_a:
        await on_a.set_node("a")
        run = await on_a.start_run("cam00", 1_000 * S)
        await on_a.add_segment(**segment(run.id, 1_000, "cam00/1.mp4"))
    root_b = tmp_path / "b"
    root_b.mkdir()
    lines: list[str] = []
    assert await check_storage(root_b, url, deep=False, repair=True, out=lines.append) == 2  # refused: which node?
    assert await check_storage(root_b, url, deep=False, repair=True, out=lines.append, node="b") == 0
    assert len(await catalog.segments("cam00", 0, 2**62)) == 1  # a's row is still there
    a.close()
