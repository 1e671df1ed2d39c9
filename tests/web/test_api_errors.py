"""Every /api/ error is JSON naming the field; pages keep plain errors."""

from __future__ import annotations

from nvr.web.api_errors import error_body
from tests.conftest import ADMIN_PASSWORD
from tests.web.test_auth import client, login
from tests.web.test_events import CAMERAS


def test_error_body_names_the_field():
    assert error_body(400, "limit: must be at least 1") == {"error": "limit: must be at least 1", "field": "limit",
                                                           "status": 400}
    assert error_body(404, "no such event")["field"] is None
    assert error_body(403, "")["error"] == "403"


async def test_api_errors_are_json(write_config, start_server) -> None:
    async with start_server(write_config(CAMERAS)) as server:
        async with client() as s:
            async with s.get(server.url + "api/events") as resp:
                assert resp.status == 401 and (await resp.json())["error"] == "login required"
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            async with s.get(server.url + "api/events?limit=0") as resp:
                body = await resp.json()
            assert resp.status == 400 and body["field"] == "limit" and body["status"] == 400
            async with s.get(server.url + "api/events/999") as resp:
                assert resp.status == 404 and (await resp.json())["error"] == "no such event"
            async with s.post(server.url + "api/events/1/ack", json={}) as resp:
                assert resp.status == 403 and "csrf_token" in (await resp.json())["error"]
            async with s.get(server.url + "api/nothing-here") as resp:
                assert resp.status == 404 and resp.content_type == "application/json"
            async with s.get(server.url + "cameras/nope") as resp:  # a page: plain text
                assert resp.status == 404 and resp.content_type == "text/plain"
