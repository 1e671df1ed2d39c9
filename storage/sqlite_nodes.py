"""Portable implementation of the catalog's node reads (a mixin of ``SqliteCatalog``; PostgreSQL inherits it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from nvr.storage.nodes_catalog import ClusterState, LeaseInfo, NodeInfo

__all__ = ["SqliteNodesMixin"]


class SqliteNodesMixin:
    """Needs ``_call`` and ``_c`` from ``SqliteCatalog``."""

    _c: sqlite3.Connection
    _call: Callable[..., Any]
    _now: Callable[[], int]

    async def segment_nodes(self, segment_ids: list[int]) -> dict[int, str | None]:
        ids = sorted({int(i) for i in segment_ids})
        if not ids:
            return {}
        return await self._call(self._segment_nodes, ids)

    def _segment_nodes(self, ids: list[int]) -> dict[int, str | None]:
        out: dict[int, str | None] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            sql = f"SELECT id, node FROM segments WHERE id IN ({', '.join('?' * len(chunk))})"
            out.update(dict(self._c.execute(sql, chunk).fetchall()))
        return out

    _NODES = ("SELECT n.name, n.url, n.capacity, n.started_at, n.heartbeat_at, n.stopped_at,"
              " (SELECT COUNT(*) FROM camera_leases l WHERE l.node = n.name) FROM nodes n ORDER BY n.name")

    async def list_nodes(self) -> list[NodeInfo]:
        return await self._call(lambda: [NodeInfo(*r) for r in self._c.execute(self._NODES).fetchall()])

    async def camera_holders(self) -> dict[str, tuple[str | None, int]]:
        sql = "SELECT c.name, l.node, l.generation FROM camera_leases l JOIN cameras c ON c.id = l.camera_id"
        return await self._call(lambda: {r[0]: (r[1], int(r[2])) for r in self._c.execute(sql).fetchall()})

    async def cluster_state(self) -> ClusterState:
        return await self._call(self._cluster_state)

    def _cluster_state(self) -> ClusterState:
        nodes = [NodeInfo(*r) for r in self._c.execute(self._NODES).fetchall()]
        leases = [LeaseInfo(r[0], r[1], int(r[2]), int(r[3]), r[4]) for r in self._c.execute(
            "SELECT c.name, l.node, l.generation, l.expires_at, l.pinned_node FROM camera_leases l"
            " JOIN cameras c ON c.id = l.camera_id ORDER BY c.name").fetchall()]
        return ClusterState(self._catalog_now_us(), nodes, leases)

    def _catalog_now_us(self) -> int:
        """The clock heartbeats and leases are stamped with: the catalog's own here (a single server); the
        PostgreSQL server's (``clock_timestamp()``) in ``PostgresCatalog``, whatever the node clocks say."""
        return self._now()
