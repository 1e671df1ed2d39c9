"""Reloading the kelurahan boundaries and region tree with the config (SIGHUP): cameras placed anew, a file that
has become unusable keeps the old boundaries and shows as the plugin's health, for a real server and for a real
``nvr run`` process sent SIGHUP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nvr.users import create_user
from tests.conftest import ADMIN_PASSWORD
from tests.test_app import Output
from tests.web.test_auth import client, login

MENTENG = [[106.80, -6.21], [106.85, -6.21], [106.85, -6.18], [106.80, -6.18], [106.80, -6.21]]
CIKINI = [[106.80, -6.25], [106.85, -6.25], [106.85, -6.22], [106.80, -6.22], [106.80, -6.25]]
"""geo1 (lat -6.205) lies in MENTENG; geo2 (lat -6.235) in CIKINI."""


def geojson(path: Path, areas: dict[str, list]) -> None:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"kelurahan": name}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
        for name, ring in areas.items()]}))


def config(geo: Path) -> str:
    return f'''
[[cameras]]
name = "geo1"
enabled = false
location = {{ lat = -6.205, lon = 106.81 }}
stream = {{ main = "rtsp://127.0.0.1:9/geo1" }}
[[cameras]]
name = "geo2"
enabled = false
location = {{ lat = -6.235, lon = 106.81 }}
stream = {{ main = "rtsp://127.0.0.1:9/geo2" }}
[plugins.kelurahan]
boundaries = "{geo}"
[[plugins.kelurahan.kota]]
name = "Jakarta Pusat"
[[plugins.kelurahan.kota.kecamatan]]
name = "Menteng"
kelurahan = ["Menteng", "Cikini"]
'''


async def regions(s, url: str) -> dict:
    async with s.get(url + "api/kelurahan/regions") as resp:
        assert resp.status == 200
        return await resp.json()


async def test_reload_places_cameras_by_the_new_boundaries_and_keeps_them_when_the_file_breaks(
        tmp_path: Path, write_config, start_server) -> None:
    geo = tmp_path / "kelurahan.geojson"
    geojson(geo, {"Menteng": MENTENG})  # geo2 lies outside every area
    path = write_config(config(geo))
    async with start_server(path) as server:
        runtime = server.runtime
        status = runtime.plugins.status["kelurahan"]
        await create_user(runtime.catalog, "cikini", "cikini-password", "kelurahan_viewer", "Cikini")
        async with client() as admin, client() as viewer:
            await login(admin, server.url, "admin", ADMIN_PASSWORD)
            await login(viewer, server.url, "cikini", "cikini-password")
            got = await regions(admin, server.url)
            assert got["cameras"]["geo1"]["kelurahan"] == "Menteng" and got["cameras"]["geo2"]["kelurahan"] is None
            assert (await regions(viewer, server.url))["cameras"] == {}

            geojson(geo, {"Menteng": MENTENG, "Cikini": CIKINI})  # the file grows a kelurahan; the TOML is the same
            path.write_text(path.read_text().replace('name = "Menteng"\n', 'name = "Menteng Raya"\n'))
            await server.reload()
            got = await regions(admin, server.url)
            assert got["cameras"]["geo2"] == {"kelurahan": "Cikini", "kecamatan": "Menteng Raya",
                                              "kota": "Jakarta Pusat", "source": "boundary"}
            assert got["cameras"]["geo1"]["kecamatan"] == "Menteng Raya"  # the region tree was reloaded too
            assert got["boundaries"]["count"] == 2 and got["boundaries"]["error"] is None
            assert list((await regions(viewer, server.url))["cameras"]) == ["geo2"]  # the scope follows at once
            async with viewer.get(server.url + "cameras/geo2") as resp:
                assert resp.status == 200  # the core's scope rule too (the areas the plugin publishes)
            async with viewer.get(server.url + "cameras/geo1") as resp:
                assert resp.status == 404
            assert status.healthy

            geo.write_text('{"type": "FeatureCollection", "features": [{"properties": {"kelurahan": "Cikini"}, '
                           '"geometry": {"type": "Point", "coordinates": [106.8, -6.2]}}]}')
            result = await server.reload()
            assert not isinstance(result, Exception)  # the rest of the config still reloads
            reason = f"{geo}: feature 0 (Cikini): geometry type 'Point' is not Polygon or MultiPolygon"
            got = await regions(admin, server.url)
            assert got["cameras"]["geo2"]["kelurahan"] == "Cikini"  # the previous boundaries stay in use
            assert got["boundaries"]["count"] == 2 and got["boundaries"]["error"] == reason
            assert not status.healthy and status.last_error_hook == "kelurahan boundaries"
            assert reason in (status.last_error or "")
            async with admin.get(server.url + "api/plugins") as resp:
                row = next(p for p in (await resp.json())["plugins"] if p["name"] == "kelurahan")
                assert row["healthy"] is False and reason in row["last_error"]
            async with admin.get(server.url + "admin") as resp:
                html = await resp.text()
                assert "Boundaries not reloaded" in html and "geometry type &#39;Point&#39;" in html

            geojson(geo, {"Menteng": MENTENG})  # fixed: used, and healthy again
            await server.reload()
            got = await regions(admin, server.url)
            assert got["cameras"]["geo2"]["kelurahan"] is None and got["boundaries"]["error"] is None
            assert status.healthy and (await regions(viewer, server.url))["cameras"] == {}


@pytest.mark.slow
def test_sighup_reloads_the_boundaries_of_a_running_server(tmp_path: Path) -> None:
    """A real ``nvr run`` process: SIGHUP re-reads the boundary file; a broken file is logged naming it."""
    geo = tmp_path / "kelurahan.geojson"
    geojson(geo, {"Menteng": MENTENG})
    path = tmp_path / "nvr.toml"
    path.write_text('[server]\nport = 0\n[storage]\nroot = "storage"\n' + config(geo))
    env = {**os.environ, "NVR_ADMIN_PASSWORD": ADMIN_PASSWORD, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nvr", "run", "-c", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    try:
        out = Output(proc)
        pos = out.wait_for("nvr is running at ")
        url = out.text[pos:].split()[0]

        async def camera_regions() -> dict:
            async with client() as s:
                await login(s, url, "admin", ADMIN_PASSWORD)
                return (await regions(s, url))["cameras"]

        assert asyncio.run(camera_regions())["geo2"]["kelurahan"] is None
        geojson(geo, {"Cikini": CIKINI})
        proc.send_signal(signal.SIGHUP)
        pos = out.wait_for(f"kelurahan: 1 boundaries loaded from {geo}", start=pos)
        got = asyncio.run(camera_regions())
        assert (got["geo1"]["kelurahan"], got["geo2"]["kelurahan"]) == (None, "Cikini")
        geo.write_text("{not json")
        proc.send_signal(signal.SIGHUP)
        pos = out.wait_for("kelurahan: boundaries not reloaded, keeping the previous 1: ", start=pos)
        assert out.text[pos:].startswith(f"{geo}: not JSON")
        assert asyncio.run(camera_regions())["geo2"]["kelurahan"] == "Cikini"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
