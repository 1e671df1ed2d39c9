"""The catalog's cluster view (``cluster_state``) on both engines: nodes, lease rows by camera, and the clock that
heartbeats are stamped with (the PostgreSQL server's on PostgreSQL, the catalog's own on a single server)."""

from __future__ import annotations

import time

from nvr.clock import ManualClock, now_us
from nvr.storage.catalog import Catalog
from nvr.storage.nodes_catalog import LeaseInfo, node_is_live

S = 1_000_000
TTL = 15 * S


async def test_a_single_server_has_no_nodes_and_no_leases(catalog: Catalog) -> None:
    await catalog.upsert_camera("cam1")
    state = await catalog.cluster_state()
    assert (state.nodes, state.leases) == ([], [])
    assert state.now_us > 0


async def test_nodes_leases_and_the_catalog_clock(catalog: Catalog, backend: str, clock: ManualClock) -> None:
    for name in ("cam1", "cam2", "cam3", "cam4"):
        await catalog.upsert_camera(name)
    now = (await catalog.cluster_state()).now_us
    if backend == "postgresql":  # the server's clock, not the catalog's injected one
        assert abs(now - time.time_ns() // 1000) < 60 * S
    else:
        assert now == now_us(clock)

    def fill(c) -> None:  # noqa: ANN001 - the worker's connection; what nodes' lease cycles would have written
        c.executemany("INSERT INTO nodes (name, url, capacity, started_at, heartbeat_at, stopped_at)"
                      " VALUES (?, ?, ?, ?, ?, ?)",
                      [("a", "http://127.0.0.11:8080", 50, now - 600 * S, now - 1 * S, None),
                       ("b", None, 100, now - 600 * S, now - 3600 * S, None),  # crashed an hour ago
                       ("c", "http://127.0.0.13:8080", 50, now - 600 * S, now - 1 * S, now - 1 * S)])  # stopped
        rows = [("cam1", "a", 3, now + 10 * S, None), ("cam2", "b", 1, now - 3590 * S, "b"),
                ("cam3", None, 2, 0, None)]
        for cam, node, generation, expires, pin in rows:
            c.execute("INSERT INTO camera_leases (camera_id, node, generation, expires_at, pinned_node, updated_at)"
                      " SELECT id, ?, ?, ?, ?, ? FROM cameras WHERE name = ?",
                      (node, generation, expires, pin, now, cam))

    await catalog.run_in_worker(fill)
    state = await catalog.cluster_state()
    assert state.now_us >= now
    assert [(n.name, n.url, n.capacity, n.cameras) for n in state.nodes] == [
        ("a", "http://127.0.0.11:8080", 50, 1), ("b", None, 100, 1), ("c", "http://127.0.0.13:8080", 50, 0)]
    assert state.leases == [LeaseInfo("cam1", "a", 3, now + 10 * S, None),
                            LeaseInfo("cam2", "b", 1, now - 3590 * S, "b"),
                            LeaseInfo("cam3", None, 2, 0, None)]  # cam4 has no lease row
    live = {n.name: node_is_live(n, state.now_us, TTL) for n in state.nodes}
    assert live == {"a": True, "b": False, "c": False}  # fresh; heartbeat older than the TTL; stopped cleanly
    assert await catalog.camera_holders() == {"cam1": ("a", 3), "cam2": ("b", 1), "cam3": (None, 2)}
