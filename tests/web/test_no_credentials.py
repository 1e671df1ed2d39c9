"""No password or RTSP/ONVIF credential in any page, API answer or log line, through a session that logs in,
fails a login, creates a user, records a camera with credentials, fails on another's wrong password, and
discovers devices with the [discovery] password."""

from __future__ import annotations

import logging

import pytest

from nvr.sim.fleet import SimFleet
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import discovery_toml, free_udp_port, wait_for
from tests.web.test_auth import client, csrf_of, login

CAMERA_PASSWORD = "cam-Secret-91"
WRONG_PASSWORD = "wrong-Secret-27"
NEW_USER_PASSWORD = "piket-Secret-55"
PAGES = ["/", "/cameras", "/cameras/good", "/cameras/locked", "/events", "/admin", "/exports", "/metrics",
         "/api/cameras", "/api/devices", "/api/plugins", "/api/audit", "/api/events", "/api/openapi.json",
         "/api/cameras/good/timeline?start_us=0&end_us=1000000", "/plates", "/api/plates", "/admin/nodes",
         "/api/nodes"]


async def test_no_secret_in_pages_answers_or_logs(write_config, start_server, caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("CAM_PW", CAMERA_PASSWORD)
    async with SimFleet(2, discovery_port=free_udp_port(), password=CAMERA_PASSWORD) as fleet:
        good, locked = fleet.cameras
        config = write_config(discovery_toml(fleet.discovery.port, CAMERA_PASSWORD) + f'''
            [[cameras]]
            name = "good"
            [cameras.onvif]
            host = "127.0.0.1"
            port = {good.onvif_port}
            username = "admin"
            password = {{ env = "CAM_PW" }}
            [[cameras]]
            name = "locked"
            stream = {{ main = "{locked.rtsp_main}", username = "admin", password = "{WRONG_PASSWORD}" }}
        ''')
        async with start_server(config) as server:
            cams = server.runtime.cameras
            await wait_for(lambda: cams.status("good").state == "recording"
                           and cams.status("locked").state == "auth_failed"
                           and len(server.runtime.discovery.devices) == 2, timeout=20)
            bodies: list[str] = []
            async with client() as s:
                assert (await login(s, server.url, "admin", "not-" + ADMIN_PASSWORD)).status == 401
                await login(s, server.url, "admin", ADMIN_PASSWORD)
                async with s.get(server.url + "admin") as resp:
                    token = csrf_of(await resp.text())
                async with s.post(server.url + "admin/users", allow_redirects=False, data={
                        "csrf_token": token, "username": "piket", "password": NEW_USER_PASSWORD, "role": "viewer",
                        "kelurahan": ""}) as resp:
                    assert resp.status == 303
                for path in PAGES:
                    async with s.get(server.url + path.lstrip("/")) as resp:
                        assert resp.status == 200, (path, resp.status)
                        bodies.append(f"{path}: {await resp.text()}")
            assert any("auth_failed" in b for b in bodies)  # the failure is shown...
            text = "\n".join(bodies) + "\n" + caplog.text
            for secret in (CAMERA_PASSWORD, WRONG_PASSWORD, NEW_USER_PASSWORD, ADMIN_PASSWORD):
                assert secret not in text, secret  # ...but never a password, in a page, an answer or a log line
            assert "locked" in caplog.text  # the logs did record the camera's trouble
