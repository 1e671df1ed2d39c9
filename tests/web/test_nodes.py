"""The cluster nodes view (``/api/nodes``, ``/admin/nodes``): empty on a single server; on a real PostgreSQL
catalog with nodes registered by the lease protocol itself, up or down by the protocol's rule, holds scoped to
the admin's kelurahan, and no node URL credential anywhere."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from nvr.storage.postgres_leases import LeaseStore
from nvr.users import create_user
from nvr.web.routes.nodes import public_url
from tests.conftest import ADMIN_PASSWORD
from tests.pg import pg_schema
from tests.web.test_auth import client, login

S = 1_000_000
TTL_S = 2
CAMERAS = """
[[cameras]]
name = "menteng1"
kelurahan = "Menteng"
kecamatan = "Menteng"
enabled = false
stream = { main = "rtsp://127.0.0.1:9/menteng1" }
[[cameras]]
name = "menteng2"
kelurahan = "Menteng"
kecamatan = "Menteng"
enabled = false
stream = { main = "rtsp://127.0.0.1:9/menteng2" }
[[cameras]]
name = "menteng3"
kelurahan = "Menteng"
kecamatan = "Menteng"
enabled = false
stream = { main = "rtsp://127.0.0.1:9/menteng3" }
[[cameras]]
name = "kota1"
kelurahan = "Gambir"
kecamatan = "Gambir"
enabled = false
stream = { main = "rtsp://127.0.0.1:9/kota1" }
"""
NODE_SECRET, NODE_TOKEN = "n0de-Secret-31", "t0ken-Secret-77"
A_URL = f"http://nvr:{NODE_SECRET}@127.0.0.11:8080/nvr?token={NODE_TOKEN}#{NODE_TOKEN}"


def test_public_url_keeps_scheme_host_port_and_path_only() -> None:
    assert public_url(A_URL) == "http://127.0.0.11:8080/nvr"
    assert public_url("HTTPS://[fd00::1]:9443/") == "https://[fd00::1]:9443/"
    assert public_url("http://node-b.internal") == "http://node-b.internal"
    assert public_url("http://u:p@[::1") is None  # does not parse
    assert public_url("ftp://u:p@host/") is None and public_url("node-b:8080") is None
    assert public_url(None) is None and public_url("") is None


async def test_a_single_server_has_no_nodes(write_config, start_server) -> None:
    async with start_server(write_config(CAMERAS)) as server:
        await create_user(server.runtime.catalog, "viewer", "viewer-password", "viewer")
        async with client() as s:
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            async with s.get(server.url + "api/nodes") as resp:
                assert resp.status == 200
                body = await resp.json()
            assert body["nodes"] == [] and body["clustered"] is False and body["this_node"] is None
            assert body["unheld"] == []  # a single server has no lease rows
            async with s.get(server.url + "admin/nodes") as resp:
                html = await resp.text()
            assert resp.status == 200 and "A single server" in html and "<table" not in html
            async with s.get(server.url + "admin") as resp:
                assert 'href="/admin/nodes"' in await resp.text()  # linked from the admin page
        async with client() as s:
            await login(s, server.url, "viewer", "viewer-password")
            async with s.get(server.url + "api/nodes") as resp:
                assert resp.status == 403 and (await resp.json())["status"] == 403
            async with s.get(server.url + "admin/nodes") as resp:
                assert resp.status == 403


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_schema("webnodes") as url:
        yield url


def node(url: str, name: str, advertised: str | None, capacity: int = 50) -> LeaseStore:
    store = LeaseStore(url, name, capacity, TTL_S * S)
    store.open()
    store.join(advertised)
    return store


async def test_nodes_up_down_holds_and_scope_on_postgresql(write_config, start_server, pg_url: str) -> None:
    config = write_config(f'[catalog]\nurl = "{pg_url}"\n[cluster]\nlease_ttl_s = {TTL_S}\nrenew_interval_s = 1\n'
                          + CAMERAS)
    async with start_server(config) as server:  # a web server on the shared catalog (not itself a node)
        catalog = server.runtime.catalog
        cams = ["kota1", "menteng1", "menteng2", "menteng3"]
        for cam in cams:
            await catalog.upsert_camera(cam)
        await create_user(catalog, "admin-menteng", "admin-password", "admin", "Menteng")
        a, b, c = node(pg_url, "a", A_URL), node(pg_url, "b", None, 100), node(pg_url, "c", "http://127.0.0.13:8080")
        try:
            a.sync_cameras({"menteng1": "a", "kota1": "a", "menteng2": "b", "menteng3": "c"})
            assert sorted(a.cycle(cams).held) == ["kota1", "menteng1"]
            assert sorted(b.cycle(cams).held) == ["menteng2"]
            c.leave()  # c stops cleanly before taking its pinned camera: menteng3 waits for a node
            async with client() as s:
                await login(s, server.url, "admin", ADMIN_PASSWORD)
                await asyncio.sleep(TTL_S + 0.3)  # b dies: no heartbeat for longer than the lease TTL
                live = a.cycle(cams, claim=False).live  # a is alive (and takes nothing over here)
                async with s.get(server.url + "api/nodes") as resp:
                    assert resp.status == 200
                    text = await resp.text()
                    body = await resp.json()
                async with s.get(server.url + "admin/nodes") as resp:
                    html = await resp.text()
            assert body["clustered"] is True and body["this_node"] is None and body["lease_ttl_s"] == TTL_S
            nodes = {n["name"]: n for n in body["nodes"]}
            assert {n: v["state"] for n, v in nodes.items()} == {"a": "up", "b": "down", "c": "down"}
            assert {n for n, v in nodes.items() if v["state"] == "up"} == set(live)  # the lease code's own rule
            assert (nodes["c"]["stopped"], nodes["b"]["stopped"]) == (True, False)
            assert nodes["b"]["heartbeat_age_s"] > TTL_S > nodes["a"]["heartbeat_age_s"]
            assert nodes["a"]["heartbeat_at"].endswith("Z") and nodes["b"]["capacity"] == 100
            assert nodes["a"]["url"] == "http://127.0.0.11:8080/nvr" and nodes["b"]["url"] is None
            assert (nodes["a"]["holds"], nodes["b"]["holds"], nodes["c"]["holds"]) == (2, 1, 0)
            assert [(x["name"], x["generation"], x["expired"]) for x in nodes["a"]["cameras"]] == [
                ("kota1", 1, False), ("menteng1", 1, False)]
            assert [(x["name"], x["expired"]) for x in nodes["b"]["cameras"]] == [("menteng2", True)]
            assert nodes["b"]["expired_holds"] == 1
            assert [x["name"] for x in body["unheld"]] == ["menteng3"]
            assert 'data-node="a" data-state="up"' in html and 'data-node="b" data-state="down"' in html
            assert "http://127.0.0.11:8080/nvr" in html and "menteng3" in html
            for secret in (NODE_SECRET, NODE_TOKEN):
                assert secret not in text and secret not in html

            async with client() as s:  # an admin bound to Menteng: every node, only Menteng's holds, no URLs
                await login(s, server.url, "admin-menteng", "admin-password")
                async with s.get(server.url + "api/nodes") as resp:
                    text = await resp.text()
                    body = await resp.json()
                async with s.get(server.url + "admin/nodes") as resp:
                    html = await resp.text()
            nodes = {n["name"]: n for n in body["nodes"]}
            assert sorted(nodes) == ["a", "b", "c"] and all(n["url"] is None for n in nodes.values())
            assert [x["name"] for x in nodes["a"]["cameras"]] == ["menteng1"] and nodes["a"]["holds"] == 1
            assert [x["name"] for x in nodes["b"]["cameras"]] == ["menteng2"]
            assert [x["name"] for x in body["unheld"]] == ["menteng3"]
            for page in (text, html):
                assert "kota1" not in page and "gambir" not in page.lower() and "127.0.0.11" not in page
        finally:
            for store in (a, b, c):
                store.close()


async def test_a_node_shows_itself_up_with_what_it_records(write_config, pg_url: str) -> None:
    """Served by a real `nvr run --node a`: the answer names the node serving it, up, holding its camera."""
    from nvr.app import Server
    from nvr.plugin_host import PluginHost

    config = write_config(f'[catalog]\nurl = "{pg_url}"\n[cluster]\nlease_ttl_s = 4\nrenew_interval_s = 1\n'
                          'secret = "nodes-view-secret"\n[[cameras]]\nname = "cam-a"\nenabled = false\n'
                          'stream = { main = "rtsp://127.0.0.1:9/a" }\n')
    async with Server(config, PluginHost(load_entry_points=False), node="a") as server:
        for _ in range(100):
            if server.runtime.extras["node"].held == ["cam-a"]:
                break
            await asyncio.sleep(0.1)
        async with client() as s:
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            async with s.get(server.url + "api/nodes") as resp:
                body = await resp.json()
            async with s.get(server.url + "admin/nodes") as resp:
                html = await resp.text()
    assert body["clustered"] is True and body["this_node"] == "a"
    (a,) = body["nodes"]
    assert (a["name"], a["state"], a["this_node"], a["holds"]) == ("a", "up", True, 1)
    assert [c["name"] for c in a["cameras"]] == ["cam-a"] and a["url"].startswith("http://127.0.0.1:")
    assert "(this node)" in html and "node <strong>a</strong>" in html
