"""Issue 10 acceptance: three `nvr run --node` processes record 12 simulated cameras on one PostgreSQL catalog;
SIGKILL one, its cameras are recorded by the others within 30 s with catalogued gaps under 40 s; the killed
node comes back and gets its share again; no camera is ever recorded by two nodes at once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from nvr.sim.fleet import SimFleet
from nvr.storage.catalog import Catalog, open_catalog
from tests.pg import pg_schema

pytestmark = [pytest.mark.slow, pytest.mark.serial, pytest.mark.timeout(420)]  # a failover deadline: alone

CAMERAS = 12
NODES = ("n1", "n2", "n3")
SEGMENT_S = 10
TTL_S, RENEW_S = 6, 2
S = 1_000_000


def node_config(root: Path, node: str, url: str, rtsp: list[str]) -> Path:
    cams = "".join(f'[[cameras]]\nname = "cam{i:02d}"\nrecord = {{ segment_seconds = {SEGMENT_S} }}\n'
                   f'stream = {{ main = "{u}", username = "admin", password = "pw-nodes" }}\n'
                   for i, u in enumerate(rtsp))
    text = (f'[server]\nhost = "127.0.0.1"\nport = 0\n[storage]\nroot = "{root / node / "storage"}"\n'
            f'[catalog]\nurl = "{url}"\n[cluster]\nlease_ttl_s = {TTL_S}\nrenew_interval_s = {RENEW_S}\n'
            f'secret = "test-cluster-secret"\n{cams}')
    path = root / node / "nvr.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


class Nodes:
    """The node processes, their logs, and what the catalog says about them."""

    def __init__(self, root: Path, url: str, rtsp: list[str]):
        self.root, self.url, self.rtsp = root, url, rtsp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, node: str) -> None:
        config = node_config(self.root, node, self.url, self.rtsp)
        log = open(self.root / f"{node}.log", "ab")  # noqa: SIM115 - the process writes it
        env = {**os.environ, "NVR_ADMIN_PASSWORD": "nodes-admin-pw"}
        self.procs[node] = subprocess.Popen([sys.executable, "-m", "nvr", "--log-level", "info", "run", "--node",
                                             node, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT, env=env)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:]
                         for p in sorted(self.root.glob("*.log")))

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def running_nodes(root: Path, url: str, rtsp: list[str]) -> Iterator[Nodes]:
    nodes = Nodes(root, url, rtsp)
    try:
        yield nodes
    except BaseException:
        (root / "nodes.txt").write_text(nodes.logs())  # kept with the test's tmp_path
        print(nodes.logs()[-6000:])
        raise
    finally:
        nodes.stop_all()


async def until(what: str, predicate, timeout: float, interval: float = 0.5) -> float:  # noqa: ANN001
    """Poll the async ``predicate`` until truthy; return the seconds it took."""
    started = time.monotonic()
    while not await predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(interval)
    return time.monotonic() - started


async def by_node(catalog: Catalog) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for cam, (node, _) in (await catalog.camera_holders()).items():
        out.setdefault(node or "-", []).append(cam)
    return {n: sorted(c) for n, c in out.items()}


async def footage(catalog: Catalog, cam: str) -> list[tuple[int, int, str | None]]:
    segs = await catalog.segments(cam, 0, 2**62)
    nodes = await catalog.segment_nodes([s.id for s in segs])
    return [(s.start_time, s.end_time, nodes[s.id]) for s in segs]


async def assert_never_two_nodes_at_once(catalog: Catalog) -> None:
    for i in range(CAMERAS):
        segs = sorted(await footage(catalog, f"cam{i:02d}"))
        for (_, e1, n1), (s2, _, n2) in zip(segs, segs[1:], strict=False):
            assert s2 >= e1 or n1 == n2, f"cam{i:02d} recorded by {n1} and {n2} at once: {s2} < {e1}"


async def test_three_nodes_fail_over_and_rebalance(tmp_path: Path) -> None:
    with pg_schema("nodes") as url:
        async with SimFleet(CAMERAS, discovery_port=None, password="pw-nodes") as fleet, \
                await open_catalog(url) as catalog:
            with running_nodes(tmp_path, url, [c.rtsp_main for c in fleet.cameras]) as nodes:
                for node in NODES:
                    nodes.start(node)

                seen: list[dict[str, list[str]]] = [{}]

                async def balanced() -> bool:
                    seen[0] = held = await by_node(catalog)
                    return sorted(len(held.get(n, [])) for n in NODES) == [4, 4, 4]

                try:
                    await until("12 cameras shared 4/4/4", balanced, 90)
                except AssertionError:
                    raise AssertionError(f"not shared 4/4/4: {seen[0]}") from None

                async def all_recorded() -> bool:
                    return all([await catalog.latest_segment(f"cam{i:02d}") for i in range(CAMERAS)])

                await until("every camera has a segment", all_recorded, 60)
                victim = "n1"
                moved = (await by_node(catalog))[victim]
                nodes.procs[victim].send_signal(signal.SIGKILL)
                killed_at_us = time.time_ns() // 1000

                async def taken_over() -> bool:
                    held = await catalog.camera_holders()
                    return all(held[c][0] not in (None, victim) for c in moved)

                took = await until("the killed node's cameras taken over", taken_over, 40)
                assert took < 30, took
                print(f"\nfailover: {len(moved)} camera(s) of {victim} taken over {took:.1f} s after SIGKILL")

                async def recording_again() -> bool:
                    for cam in moved:
                        segs = await footage(catalog, cam)
                        if not any(node != victim and start > killed_at_us for start, _, node in segs):
                            return False
                    return True

                await until("moved cameras recorded by their new nodes", recording_again, 60)
                for cam in moved:
                    segs = await footage(catalog, cam)
                    gaps = await catalog.gaps(cam, segs[0][0], segs[-1][1], min_gap_us=S)
                    around_kill = [(s, e) for s, e in gaps if s <= killed_at_us + 40 * S and e >= killed_at_us - 15 * S]
                    assert around_kill, f"{cam}: the failover gap is in the catalog ({gaps})"
                    assert max(e - s for s, e in around_kill) < 40 * S, (cam, around_kill)
                    print(f"{cam}: catalogued gap {max(e - s for s, e in around_kill) / S:.1f} s")

                nodes.start(victim)  # the node comes back: it gets a share again, never a camera twice

                async def rebalanced() -> bool:
                    held = await by_node(catalog)
                    return len(held.get(victim, [])) >= 3

                await until("the revived node gets cameras back", rebalanced, 60)

                # A node cut off past its leases (frozen, not dead) comes back: its late segments are fenced,
                # it learns it lost its cameras and stops them; nothing is recorded twice in the catalog.
                stale = "n2"
                frozen = (await by_node(catalog))[stale]
                nodes.procs[stale].send_signal(signal.SIGSTOP)

                async def moved_away() -> bool:
                    held = await catalog.camera_holders()
                    return all(held[c][0] not in (None, stale) for c in frozen)

                await until("the frozen node's cameras taken over", moved_away, 40)
                nodes.procs[stale].send_signal(signal.SIGCONT)
                log = tmp_path / f"{stale}.log"

                async def noticed() -> bool:
                    return "lost the lease" in log.read_text(errors="replace")

                await until("the thawed node notices it lost its leases", noticed, 30)
                await asyncio.sleep(SEGMENT_S + 2)
                await assert_never_two_nodes_at_once(catalog)
