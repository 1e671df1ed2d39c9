"""Storage as JSON: footage per camera scoped like everything else; the disk only for admins of all cameras."""

from __future__ import annotations

from nvr.users import create_user
from tests.conftest import ADMIN_PASSWORD
from tests.storage.media import RUN_KEY, add_recorded
from tests.web.test_auth import client, login
from tests.web.test_events import CAMERAS


async def test_storage_api(write_config, start_server) -> None:
    async with start_server(write_config(CAMERAS)) as server:
        runtime = server.runtime
        catalog, root = runtime.catalog, runtime.config.storage.root
        for camera, count in (("menteng1", 2), ("gambir1", 1)):
            run = await catalog.start_run(camera, RUN_KEY)
            for seq in range(count):
                await add_recorded(catalog, root, camera, run.id, seq)
        await create_user(catalog, "admin-menteng", "admin-password", "admin", "Menteng")
        await create_user(catalog, "operator", "operator-password", "operator")
        async with client() as s:
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            async with s.get(server.url + "api/storage") as resp:
                body = await resp.json()
            rows = {r["camera"]: r for r in body["cameras"]}
            assert rows["menteng1"]["segments"] == 2 and rows["gambir1"]["segments"] == 1
            assert rows["menteng1"]["bytes"] > 0 and rows["menteng1"]["oldest_start_us"] == RUN_KEY
            assert body["disk"]["total_bytes"] >= body["disk"]["free_bytes"] > 0
        async with client() as s:
            await login(s, server.url, "admin-menteng", "admin-password")
            async with s.get(server.url + "api/storage") as resp:
                body = await resp.json()
            assert [r["camera"] for r in body["cameras"]] == ["menteng1"] and body["disk"] is None
        async with client() as s:
            await login(s, server.url, "operator", "operator-password")
            async with s.get(server.url + "api/storage") as resp:
                assert resp.status == 403
