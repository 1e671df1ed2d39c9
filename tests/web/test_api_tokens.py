"""API tokens: created by the CLI, accepted as bearer tokens without CSRF, scoped like their user, revocable."""

from __future__ import annotations

import aiohttp

from nvr.storage.events_catalog import NewEvent
from nvr.users import create_user
from nvr.web.auth import token_hash
from tests.test_cli_user import nvr
from tests.web.test_events import CAMERAS


async def test_bearer_tokens(write_config, start_server) -> None:
    path = write_config(CAMERAS)
    async with start_server(path) as server:
        catalog = server.runtime.catalog
        for name in ("menteng1", "gambir1"):
            await catalog.upsert_camera(name)
        ev = await catalog.open_event(NewEvent(camera="menteng1", kind="object", label="person", score=0.9,
                                               start_us=1, end_us=2))
        await create_user(catalog, "scraper", "scraper-password", "operator", "Menteng")
        made = nvr("user", "token", "scraper", "-c", str(path), "--label", "prometheus", env={})
        assert made.returncode == 0, made.stderr
        token = made.stdout.split()[0]
        assert token.startswith("nvr_")
        (record,) = await catalog.list_api_tokens()
        assert record.label == "prometheus" and record.username == "scraper"
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as s:
            async with s.get(server.url + "metrics") as resp:
                text = await resp.text()
            assert resp.status == 200 and "menteng1" in text and "gambir1" not in text
            async with s.post(server.url + f"api/events/{ev.id}/ack", json={"note": "from a bot"}) as resp:
                assert resp.status == 200  # no CSRF token needed: browsers never send this header on their own
        assert (await catalog.get_event(ev.id)).acknowledged_by == "scraper"
        assert (await catalog.list_api_tokens())[0].last_used_at is not None
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer nvr_wrong"}) as s:
            async with s.get(server.url + "api/events") as resp:
                assert resp.status == 401 and "token" in (await resp.json())["error"]
        revoked = nvr("user", "revoke-token", str(record.id), "-c", str(path), env={})
        assert revoked.returncode == 0, revoked.stderr
        async with aiohttp.ClientSession(headers=headers) as s:
            async with s.get(server.url + "api/events") as resp:
                assert resp.status == 401
        assert await catalog.api_token_user(token_hash(token), 10**18) is None
        assert token not in made.stderr and token_hash(token) != token
