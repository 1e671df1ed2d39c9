"""The complaint hooks, each called by a real server for real API calls (no reporter identity in any of them)."""

from __future__ import annotations

import aiohttp
import pytest

from nvr.hookspecs import hookimpl
from nvr.users import create_user
from nvr.web.auth import token_hash
from tests.helpers import wait_for
from tests.plugins.test_complaints_api import CAMERAS, MENTENG, REPORTER, payload

pytestmark = pytest.mark.slow


class Spy:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @hookimpl
    def complaint_received(self, complaint, runtime) -> None:
        self.calls.append(("received", complaint.external_id, complaint.status, repr(complaint)))

    @hookimpl
    def complaint_linked(self, complaint, cameras, events) -> None:
        self.calls.append(("linked", complaint.external_id, [(c.camera, c.hold_id is not None) for c in cameras],
                           events))

    @hookimpl
    def complaint_status_changed(self, complaint, old, new, actor) -> None:
        self.calls.append(("status", complaint.external_id, old, new, actor, complaint.status))


@pytest.fixture
async def hooked(write_config, start_server):
    spy = Spy()
    async with start_server(write_config(CAMERAS), plugins=[("spy", spy)]) as server:
        user = await create_user(server.runtime.catalog, "jaki", "hooks-password", "operator")
        await server.runtime.catalog.create_api_token(user.id, "city app", token_hash("nvr_hooks"))
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer nvr_hooks"}) as s:
            yield server, spy, s


async def test_hook_complaint_received(hooked) -> None:
    server, spy, s = hooked
    for _ in range(2):  # the repeat is not received again
        async with s.post(server.url + "api/complaints", json=payload("H-1", reporter=REPORTER)) as resp:
            assert resp.status in (200, 201)
    await wait_for(lambda: any(c[0] == "received" for c in spy.calls))
    await server.runtime.plugins.drain()
    received = [c for c in spy.calls if c[0] == "received"]
    assert [c[:3] for c in received] == [("received", "H-1", "new")]
    assert REPORTER["name"] not in received[0][3]


async def test_hook_complaint_linked(hooked) -> None:
    server, spy, s = hooked
    await server.runtime.catalog.upsert_camera("menteng-1", kelurahan="Menteng")
    async with s.post(server.url + "api/complaints", json=payload("H-2", MENTENG)) as resp:
        assert resp.status == 201
    await wait_for(lambda: any(c[0] == "linked" for c in spy.calls))
    assert [c for c in spy.calls if c[0] == "linked"] == [("linked", "H-2", [("menteng-1", True)], [])]


async def test_hook_complaint_status_changed(hooked) -> None:
    server, spy, s = hooked
    async with s.post(server.url + "api/complaints", json=payload("H-3", (-6.40, 106.70))) as resp:
        cid = (await resp.json())["id"]  # nowhere near a camera: stays new
    async with s.post(server.url + f"api/complaints/{cid}/status", json={"status": "in_progress"}) as resp:
        assert resp.status == 200
    async with s.post(server.url + f"api/complaints/{cid}/status", json={"status": "closed"}) as resp:
        assert resp.status == 409  # refused: no hook
    await wait_for(lambda: any(c[0] == "status" for c in spy.calls))
    await server.runtime.plugins.drain()
    assert [c for c in spy.calls if c[0] == "status"] == [("status", "H-3", "new", "in_progress", "jaki",
                                                           "in_progress")]
