"""Lease benchmark (issue 10): renewal load on PostgreSQL and time to rebalance after a node loss.

1,500 simulated cameras spread over N nodes' leases (``LeaseStore``, the code
``nvr run --node`` runs; no recorders). Every node runs its lease cycle each
``renew_interval_s`` on its own thread and connection, as in production.
Reported: SQL statements and transactions per second the whole cluster sends
at steady state (counted by the nodes and by PostgreSQL's pg_stat_database),
cycle latency, and after one node stops answering (no clean leave: a crash),
the seconds until every camera is held by a live node again. Loopback only.

Usage: scripts/bench_leases [--url postgresql://...] [--cameras 1500] [--nodes 5] [--ttl 15] [--interval 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nvr.storage.catalog import open_catalog  # noqa: E402
from nvr.storage.postgres_leases import LeaseStore  # noqa: E402

DEFAULT_URL = "postgresql://nvr_test:nvr_test@127.0.0.1:5432/nvr_test"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default=DEFAULT_URL, help="a PostgreSQL database on loopback (a schema is made in it)")
    p.add_argument("--cameras", type=int, default=1500)
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--capacity", type=int, default=0,
                   help="per node (default: enough for the cameras with one node down)")
    p.add_argument("--ttl", type=float, default=15.0)
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--steady", type=float, default=30.0, help="seconds of steady state measured")
    p.add_argument("--json", type=Path, default=None, help="write the results here too")
    return p.parse_args()


def db_counters(url: str) -> tuple[int, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT xact_commit + xact_rollback, tup_updated FROM pg_stat_database"
                           " WHERE datname = current_database()").fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


class Node(threading.Thread):
    """One node's lease loop (what nvr.leases.LeaseManager runs), on its own thread and connection."""

    def __init__(self, store: LeaseStore, cameras: list[str], interval: float):
        super().__init__(daemon=True)
        self.store, self.cameras, self.interval = store, cameras, interval
        self.stop_event = threading.Event()
        self.latencies: list[float] = []
        self.held = 0

    def run(self) -> None:
        first = True
        while not self.stop_event.is_set():
            started = time.perf_counter()
            result = self.store.cycle(self.cameras, claim=not first)
            if result.release:
                self.store.release(result.release)
            self.held = len(result.held) - len(result.release)
            self.latencies.append(time.perf_counter() - started)
            first = False
            self.stop_event.wait(self.interval)


async def setup_schema(url: str, cameras: list[str]) -> str:
    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    schema_url = f"{url}?schema={schema}"
    async with await open_catalog(schema_url) as cat:
        def insert(c) -> None:  # noqa: ANN001 - the catalog's worker connection
            c.execute("BEGIN")
            c.executemany("INSERT INTO cameras (name, created_at, updated_at) VALUES (?, 0, 0)",
                          [(n,) for n in cameras])
            c.execute("COMMIT")

        await cat.run_in_worker(insert)
    return schema


def holders(url: str, schema: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(f'SELECT coalesce(node, \'-\'), count(*) FROM "{schema}".camera_leases GROUP BY 1')
        return dict(rows.fetchall())


def main() -> int:
    args = parse_args()
    cameras = [f"cam{i:04d}" for i in range(args.cameras)]
    capacity = args.capacity or -(-args.cameras // max(args.nodes - 1, 1)) + 10
    schema = asyncio.run(setup_schema(args.url, cameras))
    schema_url = f"{args.url}?schema={schema}"
    nodes: list[Node] = []
    try:
        for i in range(args.nodes):
            store = LeaseStore(schema_url, f"node{i}", capacity, int(args.ttl * 1e6))
            store.open()
            store.join(None)
            if i == 0:
                store.sync_cameras({c: None for c in cameras})
            nodes.append(Node(store, cameras, args.interval))
        print(f"{args.cameras} cameras, {args.nodes} nodes of capacity {capacity}, lease TTL {args.ttl:g} s, "
              f"renew every {args.interval:g} s; schema {schema}")
        started = time.monotonic()
        for node in nodes:
            node.start()
        while holders(args.url, schema).get("-", 0) or sum(n.held for n in nodes) < args.cameras:
            time.sleep(0.2)
            if time.monotonic() - started > 120:
                raise SystemExit("the cameras were not all leased within 120 s")
        initial_s = time.monotonic() - started
        time.sleep(args.interval)  # settle
        for node in nodes:
            node.latencies.clear()
        counts0, (tx0, upd0), t0 = [n.store.statements for n in nodes], db_counters(args.url), time.monotonic()
        time.sleep(args.steady)
        counts1, (tx1, upd1), t1 = [n.store.statements for n in nodes], db_counters(args.url), time.monotonic()
        span = t1 - t0
        statements = sum(counts1) - sum(counts0)
        lat = sorted(x for n in nodes for x in n.latencies)
        steady = {
            "statements_per_s": statements / span, "db_transactions_per_s": (tx1 - tx0) / span,
            "db_rows_updated_per_s": (upd1 - upd0) / span, "cycles": len(lat),
            "cycle_p50_ms": statistics.median(lat) * 1e3, "cycle_max_ms": lat[-1] * 1e3,
            "held": {n.store.node: n.held for n in nodes},
        }
        victim = nodes[0]
        lost = victim.held
        victim.stop_event.set()  # a crash: no leave, its leases just stop being renewed
        victim.join()
        killed = time.monotonic()
        while holders(args.url, schema).get(victim.store.node, 0) > 0:
            time.sleep(0.1)
            if time.monotonic() - killed > args.ttl + 10 * args.interval:
                raise SystemExit("the lost node's cameras were not taken over")
        rebalance_s = time.monotonic() - killed
        results = {"cameras": args.cameras, "nodes": args.nodes, "capacity": capacity, "ttl_s": args.ttl,
                   "interval_s": args.interval, "initial_spread_s": initial_s, "steady": steady,
                   "node_loss": {"cameras_moved": lost, "all_held_again_s": rebalance_s,
                                 "after": holders(args.url, schema)}}
        print(json.dumps(results, indent=2))
        print(f"\nsteady state: {steady['statements_per_s']:.1f} statements/s from the nodes, "
              f"{steady['db_transactions_per_s']:.1f} transactions/s and {steady['db_rows_updated_per_s']:.0f} "
              f"rows updated/s at PostgreSQL (whole database); cycle p50 {steady['cycle_p50_ms']:.1f} ms, "
              f"max {steady['cycle_max_ms']:.1f} ms")
        print(f"node loss: {lost} cameras held by live nodes again after {rebalance_s:.1f} s "
              f"(TTL {args.ttl:g} s + up to one {args.interval:g} s interval)")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        for node in nodes:
            node.stop_event.set()
        for node in nodes:
            node.join(timeout=30)
            node.store.close()
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return 0


if __name__ == "__main__":
    sys.exit(main())
