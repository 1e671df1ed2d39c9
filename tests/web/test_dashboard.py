"""The dashboard grid, its filters and paging, thumbnails from real streams, and scope."""

from __future__ import annotations

import io

from PIL import Image

from nvr.sim.rtsp import RtspServer
from nvr.users import create_user
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import closed_port
from tests.web.test_auth import client, login


def cameras_toml(sim: RtspServer, extra: int = 0) -> str:
    text = f'''
[[cameras]]
name = "menteng-1"
title = "Taman Suropati"
kelurahan = "Menteng"
kecamatan = "Menteng"
tags = ["taman"]
record = {{ enabled = false }}
[cameras.stream]
main = "{sim.url('cam', 'main')}"
sub = "{sim.url('cam', 'sub')}"
username = "admin"
password = "sim-pw"
[[cameras]]
name = "gambir-1"
kelurahan = "Gambir"
kecamatan = "Gambir"
record = {{ enabled = false }}
stream = {{ main = "rtsp://127.0.0.1:{closed_port()}/x" }}
'''
    for i in range(extra):
        text += f'''
[[cameras]]
name = "extra-{i:03d}"
kelurahan = "Gambir"
kecamatan = "Gambir"
enabled = false
stream = {{ main = "rtsp://127.0.0.1:9/x{i}" }}
'''
    return text


async def test_dashboard_filters_pages_and_thumbnails(write_config, start_server) -> None:
    sim = RtspServer(host="127.0.0.1", port=0)
    await sim.start()
    sim.add_camera("cam", username="admin", password="sim-pw")
    try:
        async with start_server(write_config(cameras_toml(sim, extra=60))) as server:
            await create_user(server.runtime.catalog, "menteng", "menteng-password", "viewer", "Menteng")
            async with client() as s:
                await login(s, server.url, "admin", ADMIN_PASSWORD)
                async with s.get(server.url) as resp:
                    html = await resp.text()
                assert resp.status == 200 and html.count('class="tile"') == 48  # the first page of 62
                assert 'data-camera="menteng-1"' in html and "page=2" in html
                async with s.get(server.url + "?page=2") as resp:
                    assert (await resp.text()).count('class="tile"') == 14
                async with s.get(server.url + "?kelurahan=Menteng") as resp:
                    html = await resp.text()
                assert html.count('class="tile"') == 1 and "Taman Suropati" in html
                async with s.get(server.url + "?q=suropati&tag=taman") as resp:
                    assert (await resp.text()).count('class="tile"') == 1
                async with s.get(server.url + "?state=disabled") as resp:
                    assert (await resp.text()).count('class="tile"') == 48
                async with s.get(server.url + "?page=0") as resp:
                    assert resp.status == 400 and "page" in await resp.text()

                async with s.get(server.url + "api/cameras/menteng-1/thumbnail.jpg") as resp:
                    assert resp.status == 200 and resp.content_type == "image/jpeg"
                    img = Image.open(io.BytesIO(await resp.read()))
                assert img.size == (320, 180)  # the 640x360 sub stream, shrunk
                async with s.get(server.url + "api/cameras/gambir-1/thumbnail.jpg") as resp:
                    text = await resp.text()
                assert resp.status == 503 and "offline" in text and "sim-pw" not in text
                async with s.get(server.url + "api/cameras/menteng-1/thumbnail.jpg?max_age=0") as resp:
                    assert resp.status == 400 and "max_age" in await resp.text()

            async with client() as s:  # a Menteng viewer sees Menteng only, on every path
                await login(s, server.url, "menteng", "menteng-password")
                async with s.get(server.url) as resp:
                    html = await resp.text()
                assert html.count('class="tile"') == 1 and "gambir" not in html.lower()
                async with s.get(server.url + "api/cameras/gambir-1/thumbnail.jpg") as resp:
                    assert resp.status == 404
    finally:
        await sim.stop()
