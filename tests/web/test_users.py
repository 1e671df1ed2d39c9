"""The users JSON API: list, create, re-scope, disable; roles, kelurahan-bound admins, CSRF, no secret in answers."""

from __future__ import annotations

from nvr.users import create_user
from tests.conftest import ADMIN_PASSWORD
from tests.web.test_auth import client, csrf_of, login
from tests.web.test_events import CAMERAS


async def test_users_api(write_config, start_server) -> None:
    async with start_server(write_config(CAMERAS)) as server:
        catalog = server.runtime.catalog
        await create_user(catalog, "admin-menteng", "admin-password", "admin", "Menteng")
        await create_user(catalog, "viewer-gambir", "viewer-password", "viewer", "Gambir")
        async with client() as s:
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            async with s.get(server.url + "admin") as resp:
                headers = {"X-CSRF-Token": csrf_of(await resp.text())}
            new = {"username": "piket", "password": "piket-password", "role": "viewer", "kelurahan": "Menteng"}
            async with s.post(server.url + "api/users", json=new) as resp:
                assert resp.status == 403  # no CSRF token
            async with s.post(server.url + "api/users", json=new, headers=headers) as resp:
                assert resp.status == 201 and (await resp.json())["kelurahan"] == "Menteng"
            async with s.post(server.url + "api/users", json={**new, "username": "x", "role": "king"},
                              headers=headers) as resp:
                assert resp.status == 400 and (await resp.json())["field"] == "role"
            async with s.post(server.url + "api/users/piket", json={"role": "operator", "kelurahan": ""},
                              headers=headers) as resp:
                assert (await resp.json())["role"] == "operator" and (await catalog.get_user("piket")).kelurahan is None
            async with s.post(server.url + "api/users/piket", json={"disabled": True}, headers=headers) as resp:
                assert resp.status == 200 and (await catalog.get_user("piket")).disabled
            async with s.post(server.url + "api/users/admin", json={"disabled": True}, headers=headers) as resp:
                assert resp.status == 400  # not one's own account
            async with s.get(server.url + "api/users") as resp:
                body = await resp.text()
            assert '"piket"' in body and "piket-password" not in body and "scrypt" not in body
        actions = [e.action for e in await catalog.audit_entries(50)]
        assert {"user.create", "user.role", "user.disable"} <= set(actions)
        async with client() as s:  # an admin bound to Menteng sees and manages Menteng's users only
            await login(s, server.url, "admin-menteng", "admin-password")
            async with s.get(server.url + "api/users") as resp:
                names = [u["username"] for u in (await resp.json())["users"]]
            assert names == ["admin-menteng"]  # piket is all-camera now, viewer-gambir is Gambir's
            async with s.get(server.url + "admin") as resp:
                headers = {"X-CSRF-Token": csrf_of(await resp.text())}
            async with s.post(server.url + "api/users/viewer-gambir", json={"disabled": True}, headers=headers) as r:
                assert r.status == 404
            async with s.post(server.url + "api/users", json={**new, "username": "y", "kelurahan": "Gambir"},
                              headers=headers) as resp:
                assert resp.status == 400 and "Menteng" in (await resp.json())["error"]
