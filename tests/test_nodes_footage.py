"""Footage anywhere: what node a recorded plays, downloads and exports from node b, fetched over the signed
internal API; the internal API lets in other nodes only, never a user or anyone else."""

from __future__ import annotations

import asyncio
import hashlib
import time
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import pytest

from nvr.app import Server
from nvr.export_verify import verify_bundle
from nvr.node_auth import HEADER, sign
from nvr.plugin_host import PluginHost
from tests.conftest import ADMIN_PASSWORD
from tests.export_media import record, shown_packets, source_frames_in
from tests.pg import pg_schema
from tests.web.test_auth import client, csrf_of, login

pytestmark = pytest.mark.timeout(180)
S = 1_000_000
SECRET = "footage-test-secret"
T0 = (time.time_ns() // 1000 // S - 600) * S
"""Ten minutes ago: recent enough that node a's retention keeps it."""


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / S, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def config(tmp_path: Path, node: str, url: str) -> Path:
    path = tmp_path / node / "nvr.toml"
    path.parent.mkdir(parents=True)
    path.write_text(
        f'[server]\nport = 0\n[storage]\nroot = "storage"\n[catalog]\nurl = "{url}"\n[export]\nmax_range_hours = 1\n'
        f'[cluster]\nlease_ttl_s = 4\nrenew_interval_s = 1\nsecret = "{SECRET}"\n'
        '[cluster.nodes.a]\npinned = ["cam-a"]\n[cluster.nodes.b]\npinned = ["cam-b"]\n'
        '[[cameras]]\nname = "cam-a"\nstream = { main = "rtsp://127.0.0.1:9/a" }\n'
        '[[cameras]]\nname = "cam-b"\nstream = { main = "rtsp://127.0.0.1:9/b" }\n', encoding="utf-8")
    return path


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[Server, Server]]:
    with pg_schema("footage") as url:
        async with Server(config(tmp_path, "a", url), PluginHost(load_entry_points=False), node="a") as a, \
                Server(config(tmp_path, "b", url), PluginHost(load_entry_points=False), node="b") as b:
            for _ in range(100):  # each takes the camera pinned to it
                if a.runtime.extras["node"].held == ["cam-a"] and b.runtime.extras["node"].held == ["cam-b"]:
                    break
                await asyncio.sleep(0.1)
            assert a.runtime.extras["node"].held == ["cam-a"], b.runtime.extras["node"].held
            # what node a "recorded": three 2 s segments on a's disk, catalogued as a's
            a.footage = await record(a.runtime.catalog, a.runtime.config.storage.root, "cam-a", T0, count=3)
            yield a, b


async def admin_session(server: Server) -> tuple[aiohttp.ClientSession, str]:
    s = client()
    assert (await login(s, server.url, "admin", ADMIN_PASSWORD)).status == 303
    async with s.get(server.url + "exports") as page:
        return s, csrf_of(await page.text())


async def test_node_b_plays_downloads_and_exports_what_node_a_recorded(nodes, tmp_path: Path) -> None:
    a, b = nodes
    segs = a.footage
    assert set((await b.runtime.catalog.segment_nodes([s.id for s in segs])).values()) == {"a"}
    assert not (b.runtime.config.storage.root / segs[0].path).exists()  # not on b's disk
    query = f"start={T0 + S}&end={T0 + 5 * S}"
    bodies = {}
    for name, server in (("a", a), ("b", b)):
        s, _ = await admin_session(server)
        async with s, s.get(server.url + f"api/cameras/cam-a/download.mp4?{query}") as resp:
            assert resp.status == 200, await resp.text()
            bodies[name] = await resp.read()
    assert bodies["b"] == bodies["a"] and len(bodies["b"]) > 10_000  # the same clip, byte for byte
    cache = b.runtime.config.storage.root.parent / "cluster-cache"
    for seg in segs:  # b keeps verified copies outside its storage root
        assert hashlib.sha256((cache / seg.path).read_bytes()).hexdigest() == seg.sha256

    s, token = await admin_session(b)
    async with s:
        body = {"cameras": ["cam-a"], "start": iso(T0 + S), "end": iso(T0 + 5 * S),
                "case": "LP/B/10/2024", "reason": "scale-out"}
        async with s.post(b.url + "api/exports", json=body, headers={"X-CSRF-Token": token}) as resp:
            assert resp.status == 202, await resp.text()
            job = await resp.json()
        for _ in range(300):
            async with s.get(b.url + f"api/exports/{job['id']}") as resp:
                job = await resp.json()
            if job["state"] in ("done", "failed"):
                break
            await asyncio.sleep(0.1)
        assert job["state"] == "done", job
        async with s.get(b.url + job["bundle"][1:]) as resp:
            (tmp_path / "bundle.zip").write_bytes(await resp.read())
    report = verify_bundle(tmp_path / "bundle.zip")
    assert report.ok, report.problems
    with zipfile.ZipFile(tmp_path / "bundle.zip") as archive:
        (tmp_path / "clip.mp4").write_bytes(archive.read(report.manifest["cameras"][0]["clips"][0]["file"]))
    assert [p[1] for p in shown_packets(tmp_path / "clip.mp4")] == source_frames_in(
        a.runtime.config.storage.root, segs, T0 + S, T0 + 5 * S)


async def test_internal_api_admits_signed_nodes_only(nodes) -> None:
    a, b = nodes
    seg = a.footage[0]
    path = f"/internal/segments/{seg.id}"
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(a.url + path.lstrip("/")) as resp:
            assert resp.status == 401 and "error" in await resp.json()
        for bad in (sign("wrong-secret", "GET", path, "b"), sign(SECRET, "GET", "/internal/segments/999", "b"),
                    sign(SECRET, "GET", path, "b", now=0)):  # wrong secret, other path, long expired
            async with anonymous.get(a.url + path.lstrip("/"), headers={HEADER: bad}) as resp:
                assert resp.status == 401
        async with anonymous.get(a.url + path.lstrip("/"), headers={HEADER: sign(SECRET, "GET", path, "b")}) as resp:
            assert resp.status == 200
            assert hashlib.sha256(await resp.read()).hexdigest() == seg.sha256
        async with anonymous.get(b.url + path.lstrip("/"), headers={HEADER: sign(SECRET, "GET", path, "a")}) as resp:
            assert resp.status == 404  # b does not hold it
    s, _ = await admin_session(a)
    async with s, s.get(a.url + path.lstrip("/")) as resp:
        assert resp.status == 401  # an admin's session is no node


async def test_each_node_shows_which_node_records_the_others_cameras(nodes) -> None:
    a, b = nodes
    for _ in range(50):  # the status follows the lease cycle (1 s here)
        status = b.runtime.cameras.status("cam-a")
        if status is not None and status.detail == "recorded by node a":
            break
        await asyncio.sleep(0.1)
    s, _ = await admin_session(b)
    async with s, s.get(b.url + "api/cameras") as resp:
        cams = {c["name"]: c for c in (await resp.json())["cameras"]}
    assert (cams["cam-a"]["state"], cams["cam-a"]["detail"]) == ("elsewhere", "recorded by node a")
    assert cams["cam-b"]["state"] != "elsewhere"  # b's own camera: its worker's state
