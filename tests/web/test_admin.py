"""The admin page: users created, re-scoped and disabled through real forms; roles, scope and CSRF enforced."""

from __future__ import annotations

from nvr.users import create_user
from tests.conftest import ADMIN_PASSWORD
from tests.web.test_auth import client, csrf_of, login
from tests.web.test_events import CAMERAS


async def test_admin_manages_users(write_config, start_server) -> None:
    async with start_server(write_config(CAMERAS)) as server:
        catalog = server.runtime.catalog
        await create_user(catalog, "viewer", "viewer-password", "viewer")
        await create_user(catalog, "admin-menteng", "admin-password", "admin", "Menteng")
        async with client() as s:
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            async with s.get(server.url + "admin") as resp:
                html = await resp.text()
            assert resp.status == 200 and 'data-user="viewer"' in html and "Storage per camera" in html
            token = csrf_of(html)
            form = {"username": "piket", "password": "piket-password", "role": "viewer", "kelurahan": "Menteng"}
            async with s.post(server.url + "admin/users", data=form) as resp:
                assert resp.status == 403  # no CSRF token
            async with s.post(server.url + "admin/users", data={**form, "csrf_token": token},
                              allow_redirects=False) as resp:
                assert resp.status == 303
            piket = await catalog.get_user("piket")
            assert (piket.role, piket.kelurahan) == ("viewer", "Menteng")
            async with s.post(server.url + "admin/users", data={**form, "csrf_token": token, "role": "king"}) as resp:
                assert resp.status == 400 and "role" in await resp.text()
            async with s.post(server.url + "admin/users/piket", allow_redirects=False,
                              data={"csrf_token": token, "action": "role", "role": "operator", "kelurahan": ""}) as r:
                assert r.status == 303
            piket = await catalog.get_user("piket")
            assert (piket.role, piket.kelurahan) == ("operator", None)
            async with s.post(server.url + "admin/users/piket", allow_redirects=False,
                              data={"csrf_token": token, "action": "disable"}) as resp:
                assert resp.status == 303
            assert (await catalog.get_user("piket")).disabled
            async with s.post(server.url + "admin/users/admin",
                              data={"csrf_token": token, "action": "role", "role": "viewer"}) as resp:
                assert resp.status == 400  # not one's own role
            async with s.get(server.url + "admin") as resp:
                html = await resp.text()
            assert "piket-password" not in html and ADMIN_PASSWORD not in html
        async with client() as s:  # an admin bound to Menteng manages Menteng's users only
            await login(s, server.url, "admin-menteng", "admin-password")
            async with s.get(server.url + "admin") as resp:
                html = await resp.text()
            assert 'data-user="viewer"' not in html
            token = csrf_of(html)
            async with s.post(server.url + "admin/users", data={"csrf_token": token, "username": "x",
                                                                 "password": "x-password-1", "role": "viewer",
                                                                 "kelurahan": ""}) as resp:
                assert resp.status == 400 and "Menteng" in await resp.text()
            async with s.post(server.url + "admin/users/viewer", data={"csrf_token": token, "action": "disable"}) as r:
                assert r.status == 404
        async with client() as s:
            await login(s, server.url, "viewer", "viewer-password")
            async with s.get(server.url + "admin") as resp:
                assert resp.status == 403


async def test_logins_and_role_changes_are_audited(write_config, start_server) -> None:
    async with start_server(write_config(CAMERAS)) as server:
        catalog = server.runtime.catalog
        await create_user(catalog, "ana", "ana-password", "viewer")
        async with client() as s:
            resp = await login(s, server.url, "ana", "wrong-password")
            assert resp.status == 401
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            async with s.get(server.url + "admin") as page:
                token = csrf_of(await page.text())
            async with s.post(server.url + "admin/users/ana", allow_redirects=False,
                              data={"csrf_token": token, "action": "role", "role": "operator", "kelurahan": ""}):
                pass
            async with s.get(server.url + "admin") as page:
                html = await page.text()
        entries = await catalog.audit_entries(50)
        actions = [(e.actor, e.action, e.target) for e in entries]
        assert ("ana", "login.failed", "user:ana") in actions
        assert ("admin", "login", "user:admin") in actions
        (change,) = [e for e in entries if e.action == "user.role"]
        assert change.detail == {"from": ["viewer", None], "to": ["operator", None]}
        assert "login.failed" in html and "wrong-password" not in html
