"""Nodes and camera leases in PostgreSQL: heartbeat, renew, balance by capacity, claim, release (blocking calls).

One ``LeaseStore`` per node, with its own connection (a slow catalog query
never delays a renewal). ``cycle`` is the whole protocol step a node runs
every ``renew_interval_s``: heartbeat and renew in one short transaction;
only when there is something to take does it open a second one that takes
the catalog's write lock first (the order the catalog's own write
transactions use, so they never deadlock), locks the candidate leases with
``FOR UPDATE SKIP LOCKED``, bumps their generation (the fencing token) and
ends the runs their previous holder left open. Times are the catalog
server's clock (``NOW_US_SQL``), so node clocks may disagree.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from nvr.storage.postgres_conn import PgConnection, parse_postgres_url
from nvr.storage.postgres_nodes import NOW_US_SQL

__all__ = ["CycleResult", "LeaseStore", "fair_shares"]

log = logging.getLogger(__name__)


@dataclass
class CycleResult:
    """What one lease cycle found and did."""

    now_us: int
    held: dict[str, int]
    """Camera -> lease generation, held by this node after the cycle."""
    claimed: list[str] = field(default_factory=list)
    release: list[str] = field(default_factory=list)
    """Cameras to hand back once their recorders have stopped (``LeaseStore.release``)."""
    target: int = 0
    live: dict[str, int] = field(default_factory=dict)
    """Live nodes -> capacity."""
    statements: int = 0


def fair_shares(total: int, capacities: dict[str, int]) -> dict[str, int]:
    """Split ``total`` cameras over nodes in proportion to capacity, none over its capacity (largest remainder)."""
    cap_sum = sum(capacities.values())
    if total <= 0 or cap_sum <= 0:
        return {name: 0 for name in capacities}
    total = min(total, cap_sum)
    exact = {name: total * cap / cap_sum for name, cap in capacities.items()}
    shares = {name: min(capacities[name], math.floor(x)) for name, x in exact.items()}
    order = sorted(capacities, key=lambda n: (-(exact[n] - math.floor(exact[n])), n))
    while sum(shares.values()) < total:
        progressed = False
        for name in order:
            if sum(shares.values()) >= total:
                break
            if shares[name] < capacities[name]:
                shares[name] += 1
                progressed = True
        if not progressed:
            break
    return shares


class LeaseStore:
    """The lease protocol's SQL for one node; every method blocks (run them on one thread)."""

    def __init__(self, url: str, node: str, capacity: int, ttl_us: int):
        pg_url, schema = parse_postgres_url(url)
        self._conn = PgConnection(pg_url, schema)
        self.node = node
        self.capacity = capacity
        self.ttl_us = ttl_us
        self._count = 0

    @property
    def statements(self) -> int:
        """SQL statements sent so far (the benchmark's load figure)."""
        return self._count

    def _x(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        self._count += 1
        return self._conn.raw.execute(sql, params)

    def open(self) -> None:
        self._conn.connect()

    def close(self) -> None:
        self._conn.close()

    def join(self, url: str | None) -> None:
        """Register (or re-register) this node with a fresh heartbeat."""
        self._x("INSERT INTO nodes (name, url, capacity, started_at, heartbeat_at) VALUES"
                f" (%s, %s, %s, {NOW_US_SQL}, {NOW_US_SQL}) ON CONFLICT (name) DO UPDATE SET url = excluded.url,"
                " capacity = excluded.capacity, started_at = excluded.started_at,"
                " heartbeat_at = excluded.heartbeat_at, stopped_at = NULL", (self.node, url, self.capacity))

    def set_url(self, url: str) -> None:
        self._x("UPDATE nodes SET url = %s WHERE name = %s", (url, self.node))

    def sync_cameras(self, pins: dict[str, str | None]) -> None:
        """Make sure every configured camera (already in ``cameras``) has a lease row with the configured pin."""
        if not pins:
            return
        names, pinned = list(pins), [pins[n] for n in pins]
        self._x(
            "INSERT INTO camera_leases (camera_id, pinned_node, updated_at)"
            f" SELECT c.id, p.pinned, {NOW_US_SQL} FROM unnest(%s::text[], %s::text[]) AS p(name, pinned)"
            " JOIN cameras c ON c.name = p.name"
            " ON CONFLICT (camera_id) DO UPDATE SET pinned_node = excluded.pinned_node"
            " WHERE camera_leases.pinned_node IS DISTINCT FROM excluded.pinned_node", (names, pinned))

    def cycle(self, cameras: list[str], claim: bool = True) -> CycleResult:
        """Heartbeat, renew what this node holds, then take free or expired leases up to its fair share.

        ``cameras``: the configured cameras (all nodes share one list). ``claim=False`` only renews (the
        first cycle after joining, so that nodes starting together see each other before they divide).
        """
        me, ttl = self.node, self.ttl_us
        before = self._count
        conn = self._conn.raw
        with conn.transaction():
            now = self._x(f"UPDATE nodes SET heartbeat_at = {NOW_US_SQL}, capacity = %s, stopped_at = NULL"
                          " WHERE name = %s RETURNING heartbeat_at", (self.capacity, me)).fetchone()
            if now is None:
                raise RuntimeError(f"node {me!r} is not registered (join first)")
            now_us = int(now[0])
            held = dict(self._x(
                "UPDATE camera_leases l SET expires_at = %s FROM cameras c WHERE c.id = l.camera_id AND l.node = %s"
                " RETURNING c.name, l.generation", (now_us + ttl, me)).fetchall())
            live = dict(self._x("SELECT name, capacity FROM nodes WHERE stopped_at IS NULL AND heartbeat_at > %s",
                                (now_us - ttl,)).fetchall())
            rows = self._x(
                "SELECT c.name, l.node, l.expires_at, l.pinned_node FROM camera_leases l"
                " JOIN cameras c ON c.id = l.camera_id WHERE c.name = ANY(%s)", (list(cameras),)).fetchall()
        live[me] = self.capacity
        shares = fair_shares(len(rows), live)
        target = shares[me]
        result = CycleResult(now_us, held, target=target, live=live)
        counts = {n: 0 for n in live}
        for _, node, expires, _ in rows:
            if node in counts and expires > now_us:
                counts[node] += 1
        short = any(counts[n] < shares[n] for n in live if n != me)  # someone could take what this node gives
        result.release = self._to_release(rows, held, set(cameras), live, target if short else len(held))
        free = sorted((name, pin) for name, node, expires, pin in rows
                      if name not in held and (node is None or expires <= now_us)
                      and (pin is None or pin == me or pin not in live))
        pinned_here = [n for n, pin in free if pin == me]
        room = max(target - (len(held) - len(result.release)) - len(pinned_here), 0)
        if claim and (pinned_here or (room and len(free) > len(pinned_here))):
            taken = self._claim(list(cameras), sorted(live), room, now_us)
            held.update(taken)
            result.claimed = sorted(taken)
        result.statements = self._count - before
        return result

    def _to_release(self, rows: list[tuple[Any, ...]], held: dict[str, int], configured: set[str],
                    live: dict[str, int], target: int) -> list[str]:
        """Held cameras to give back: gone from the config, pinned to another live node, or above ``target``
        (the fair share while another live node is below its own, else everything held: no flapping)."""
        pins = {name: pin for name, _, _, pin in rows}
        out = {n for n in held if n not in configured}
        out |= {n for n in held if pins.get(n) not in (None, self.node) and pins.get(n) in live}
        keep = sorted(n for n in held if n not in out)
        excess = len(keep) - target
        if excess > 0:
            movable = [n for n in keep if pins.get(n) != self.node]
            out |= set(movable[-excess:])
        return sorted(out)

    def _claim(self, cameras: list[str], live: list[str], room: int, now_us: int) -> dict[str, int]:
        """Take the free or expired leases pinned here, and up to ``room`` others (rows others are taking are
        skipped; the choice is made again under the lock, so nodes claiming at once take different cameras)."""
        me = self.node
        free = ("SELECT l.camera_id FROM camera_leases l JOIN cameras c ON c.id = l.camera_id"
                " WHERE c.name = ANY(%s) AND (l.node IS NULL OR l.expires_at <= %s) AND l.node IS DISTINCT FROM %s")
        with self._conn.raw.transaction():
            self._x("SELECT pg_advisory_xact_lock(%s)", (self._conn.write_lock_key,))
            ids = [r[0] for r in self._x(free + " AND l.pinned_node = %s FOR UPDATE OF l SKIP LOCKED",
                                          (cameras, now_us, me, me)).fetchall()]
            if room:
                ids += [r[0] for r in self._x(
                    free + " AND (l.pinned_node IS NULL OR l.pinned_node <> ALL(%s)) ORDER BY c.name LIMIT %s"
                    " FOR UPDATE OF l SKIP LOCKED", (cameras, now_us, me, live, room)).fetchall()]
            if not ids:
                return {}
            taken = self._x(
                "UPDATE camera_leases l SET node = %s, generation = l.generation + 1, expires_at = %s,"
                " updated_at = %s FROM cameras c WHERE c.id = l.camera_id AND l.camera_id = ANY(%s)"
                " RETURNING c.name, l.generation", (me, now_us + self.ttl_us, now_us, ids)).fetchall()
            # The previous holder's open runs end at their last segment: this node starts its own.
            self._x("UPDATE runs SET ended_at = GREATEST(started_at, COALESCE((SELECT MAX(s.end_time) FROM segments s"
                    " WHERE s.run_id = runs.id), started_at)), reason_ended = %s"
                    " WHERE camera_id = ANY(%s) AND ended_at IS NULL", (f"lease taken over by {me}", ids))
        if taken:
            log.info("node %s took over %d camera(s): %s", me, len(taken), ", ".join(sorted(n for n, _ in taken)))
        return {n: int(g) for n, g in taken}

    def release(self, names: list[str]) -> int:
        """Give back leases this node holds (after their recorders stopped); returns how many."""
        if not names:
            return 0
        cur = self._x("UPDATE camera_leases l SET node = NULL, expires_at = 0, updated_at = " + NOW_US_SQL +
                      " FROM cameras c WHERE c.id = l.camera_id AND l.node = %s AND c.name = ANY(%s)",
                      (self.node, list(names)))
        return cur.rowcount

    def leave(self) -> None:
        """A clean stop: every lease back, and the node marked stopped (others take over at once)."""
        with self._conn.raw.transaction():
            self._x("UPDATE camera_leases SET node = NULL, expires_at = 0 WHERE node = %s", (self.node,))
            self._x(f"UPDATE nodes SET stopped_at = {NOW_US_SQL} WHERE name = %s", (self.node,))
