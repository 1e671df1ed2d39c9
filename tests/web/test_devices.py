"""Adoption end to end: a simulated ONVIF camera found by WS-Discovery on loopback, adopted through the admin
page, records at once without a restart, and is still there after one; no credential appears anywhere."""

from __future__ import annotations

import asyncio
import re

from nvr.sim.fleet import SimFleet
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import discovery_toml, free_udp_port, wait_for
from tests.web.test_auth import client, csrf_of, login

PASSWORD = "pw-adopt-7"


async def test_discovered_device_is_adopted_and_records(write_config, start_server) -> None:
    async with SimFleet(1, discovery_port=free_udp_port(), password=PASSWORD) as fleet:
        config = write_config(discovery_toml(fleet.discovery.port, PASSWORD))
        async with start_server(config) as server:
            runtime = server.runtime
            await wait_for(lambda: any(d.state == "ok" for d in runtime.discovery.devices.values()), timeout=15)
            async with client() as s:
                await login(s, server.url, "admin", ADMIN_PASSWORD)
                async with s.get(server.url + "admin") as resp:
                    html = await resp.text()
                assert resp.status == 200 and 'action="/admin/devices/adopt"' in html and 'data-plugin="lpr"' in html
                device = re.search(r'name="device" value="([^"]+)"', html).group(1)
                form = {"device": device, "name": "taman-suropati", "kelurahan": "Menteng", "kecamatan": "Menteng"}
                async with s.post(server.url + "admin/devices/adopt", data=form, allow_redirects=False) as resp:
                    assert resp.status == 403  # no CSRF token
                async with s.post(server.url + "admin/devices/adopt", data={**form, "csrf_token": csrf_of(html)},
                                  allow_redirects=False) as resp:
                    assert resp.status == 303, await resp.text()
                cams = runtime.cameras
                await wait_for(lambda: cams.status("taman-suropati") is not None
                               and cams.status("taman-suropati").state == "recording", timeout=20)
                async with s.get(server.url + "api/cameras?kelurahan=Menteng") as resp:
                    (cam,) = (await resp.json())["cameras"]
                assert (cam["name"], cam["state"], cam["kecamatan"]) == ("taman-suropati", "recording", "Menteng")
                for _ in range(100):  # frames arrive: the JSON shows the recorder's live counters
                    async with s.get(server.url + "api/cameras?q=taman") as resp:
                        (cam,) = (await resp.json())["cameras"]
                    if cam["stats"]["frames"] > 0:
                        break
                    await asyncio.sleep(0.1)
                assert cam["stats"]["frames"] > 0 and cam["stats"]["bytes"] > 0
                async with s.get(server.url + "api/devices") as resp:
                    body = await resp.text()
                assert '"recording": true' in body and PASSWORD not in body
                async with s.post(server.url + "api/devices/adopt", json={"device": device, "name": "again"},
                                  headers={"X-CSRF-Token": csrf_of(html)}) as resp:
                    assert resp.status == 409 and (await resp.json())["field"] == "device"
                async with s.get(server.url + "admin") as resp:
                    html = await resp.text()
                assert PASSWORD not in html and "camera.adopt" in html
                before = runtime.discovery.last_sweep
                async with s.post(server.url + "admin/devices/sweep", data={"csrf_token": csrf_of(html)},
                                  allow_redirects=False) as resp:
                    assert resp.status == 303 and runtime.discovery.last_sweep > before  # probed again, now
            (adopted,) = await runtime.catalog.list_adopted_cameras()
            assert PASSWORD not in repr(adopted) and adopted.adopted_by == "admin"
        async with start_server(config) as server:  # adopted cameras survive a restart
            cam = server.runtime.config.camera("taman-suropati")
            assert cam is not None and cam.kelurahan == "Menteng" and server.runtime.cameras.status(cam.name)
            async with client() as s:  # forgetting it stops its recording at once
                await login(s, server.url, "admin", ADMIN_PASSWORD)
                async with s.get(server.url + "admin") as resp:
                    html = await resp.text()
                assert 'data-adopted="taman-suropati"' in html
                async with s.post(server.url + "admin/devices/forget", allow_redirects=False,
                                  data={"csrf_token": csrf_of(html), "name": "taman-suropati"}) as resp:
                    assert resp.status == 303
                assert server.runtime.config.camera("taman-suropati") is None
                assert server.runtime.cameras.status("taman-suropati") is None
                assert await server.runtime.catalog.list_adopted_cameras() == []
                async with s.post(server.url + "api/devices/forget", json={"name": "taman-suropati"},
                                  headers={"X-CSRF-Token": csrf_of(html)}) as resp:
                    assert resp.status == 404
