"""The camera page: states, retry (role, scope, CSRF), discovered devices, plugin health."""

from __future__ import annotations

import types

from nvr.hookspecs import hookimpl
from nvr.sim.fleet import SimFleet
from nvr.users import create_user
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import discovery_toml, free_udp_port, wait_for
from tests.web.test_auth import client, csrf_of, login


async def test_states_retry_discovery_and_plugin_errors(write_config, start_server) -> None:
    @hookimpl
    def camera_state_changed(camera):
        raise RuntimeError("plugin bug")

    broken = types.SimpleNamespace(camera_state_changed=camera_state_changed)
    async with SimFleet(3, discovery_port=free_udp_port(), password="pw-page") as fleet:
        good, locked, _ = fleet.cameras
        locked.faults.unauthorized = True
        config = write_config(discovery_toml(fleet.discovery.port, "pw-page") + f'''
            [[cameras]]
            name = "good"
            kelurahan = "Menteng"
            onvif = {{ host = "127.0.0.1", port = {good.onvif_port}, username = "admin", password = "pw-page" }}
            [[cameras]]
            name = "locked"
            kelurahan = "Gambir"
            stream = {{ main = "{locked.rtsp_main}", username = "admin", password = "pw-page" }}
        ''')
        async with start_server(config, plugins=[("broken", broken)]) as server:
            cams = server.runtime.cameras
            await wait_for(lambda: cams.status("good").state == "recording"
                           and cams.status("locked").state == "auth_failed"
                           and len(server.runtime.discovery.devices) == 3, timeout=20)
            await create_user(server.runtime.catalog, "viewer", "viewer-password", "viewer")
            await create_user(server.runtime.catalog, "op-menteng", "operator-password", "operator", "Menteng")
            async with client() as s:
                await login(s, server.url, "admin", ADMIN_PASSWORD)
                async with s.get(server.url + "cameras") as page:
                    html = await page.text()
                assert 'data-camera="locked"' in html and "auth_failed" in html
                assert "Retry now" in html
                assert html.count("data-device=") == 3
                assert "plugin bug" in html and 'data-plugin="broken"' in html
                assert "pw-page" not in html
                locked.faults.unauthorized = False
                async with s.post(server.url + "cameras/locked/retry", data={"csrf_token": csrf_of(html)},
                                  allow_redirects=False) as resp:
                    assert resp.status == 303
                await wait_for(lambda: cams.status("locked").state == "recording", timeout=4)
                async with s.post(server.url + "api/cameras/good/retry", headers={"X-CSRF-Token": csrf_of(html)}) as r:
                    assert r.status == 202
                    assert await r.json() == {"name": "good", "state": "recording", "retrying": True}
                async with s.post(server.url + "api/cameras/good/retry") as r:
                    assert r.status == 403  # no CSRF token
            async with client() as s:
                await login(s, server.url, "viewer", "viewer-password")
                async with s.get(server.url + "cameras") as page:
                    token = csrf_of(await page.text())
                async with s.post(server.url + "cameras/good/retry", data={"csrf_token": token}) as resp:
                    assert resp.status == 403
            async with client() as s:
                await login(s, server.url, "op-menteng", "operator-password")
                async with s.get(server.url + "cameras") as page:
                    token = csrf_of(await page.text())
                async with s.post(server.url + "cameras/locked/retry", data={"csrf_token": token}) as resp:
                    assert resp.status == 404  # another kelurahan's camera does not exist for them
                async with s.post(server.url + "cameras/good/retry", data={"csrf_token": token},
                                  allow_redirects=False) as resp:
                    assert resp.status == 303


def many_cameras(n: int) -> str:
    return "".join(f'''
[[cameras]]
name = "cam-{i:03d}"
kelurahan = "{'Menteng' if i % 10 == 0 else 'Gambir'}"
tags = [{'"taman"' if i % 3 == 0 else ''}]
enabled = false
stream = {{ main = "rtsp://127.0.0.1:9/c{i}" }}
''' for i in range(n))


async def test_camera_api_pages_filters_and_scopes(write_config, start_server) -> None:
    async with start_server(write_config(many_cameras(65))) as server:
        await create_user(server.runtime.catalog, "menteng", "menteng-password", "viewer", "Menteng")
        async with client() as s:
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            names, url, pages = [], "/api/cameras?limit=25", 0
            while url:
                async with s.get(server.url + url.lstrip("/")) as resp:
                    body = await resp.json()
                assert resp.status == 200 and body["total"] == 65 and body["limit"] == 25
                names += [c["name"] for c in body["cameras"]]
                url, pages = body["next"], pages + 1
            assert pages == 3 and names == [f"cam-{i:03d}" for i in range(65)]  # config order, each once
            async with s.get(server.url + "api/cameras") as resp:
                body = await resp.json()
            assert (len(body["cameras"]), body["offset"], body["next"]) == (65, 0, None)  # default limit 100
            async with s.get(server.url + "api/cameras?tag=taman&kelurahan=Gambir&state=disabled&limit=5") as resp:
                body = await resp.json()
            want = [f"cam-{i:03d}" for i in range(65) if i % 3 == 0 and i % 10 != 0]
            assert body["total"] == len(want) and [c["name"] for c in body["cameras"]] == want[:5]
            for bad, field in (("limit=0", "limit"), ("offset=-3", "offset"), ("limit=x", "limit")):
                async with s.get(server.url + "api/cameras?" + bad) as resp:
                    assert resp.status == 400 and (await resp.json())["field"] == field
        async with client() as s:
            await login(s, server.url, "menteng", "menteng-password")
            async with s.get(server.url + "api/cameras?limit=2") as resp:
                body = await resp.json()
            assert body["total"] == 7 and [c["name"] for c in body["cameras"]] == ["cam-000", "cam-010"]
            async with s.get(server.url + "api/cameras?kelurahan=Gambir") as resp:
                assert (await resp.json())["total"] == 0  # another kelurahan's cameras do not exist here
