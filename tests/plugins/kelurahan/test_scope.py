"""Scopes over cameras placed by location (a GeoJSON boundary) or by the region tree (kecamatan), end to end:
a viewer sees exactly the cameras of their kelurahan or kecamatan, in lists, pages and the regions API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nvr.users import create_user
from tests.web.test_auth import client, login

SQUARE = [[106.80, -6.21], [106.85, -6.21], [106.85, -6.18], [106.80, -6.18], [106.80, -6.21]]
HOLE = [[106.82, -6.20], [106.83, -6.20], [106.83, -6.19], [106.82, -6.19], [106.82, -6.20]]


def config(geojson: Path) -> str:
    return f'''
[[cameras]]
name = "geo1"
enabled = false
location = {{ lat = -6.205, lon = 106.81 }}
stream = {{ main = "rtsp://127.0.0.1:9/geo1" }}
[[cameras]]
name = "hole1"
enabled = false
location = {{ lat = -6.195, lon = 106.825 }}
stream = {{ main = "rtsp://127.0.0.1:9/hole1" }}
[[cameras]]
name = "cikini1"
kelurahan = "Cikini"
enabled = false
stream = {{ main = "rtsp://127.0.0.1:9/cikini1" }}
[[cameras]]
name = "pluit1"
kelurahan = "Pluit"
enabled = false
stream = {{ main = "rtsp://127.0.0.1:9/pluit1" }}
[plugins.kelurahan]
boundaries = "{geojson}"
[[plugins.kelurahan.kota]]
name = "Jakarta Pusat"
[[plugins.kelurahan.kota.kecamatan]]
name = "Menteng"
kelurahan = ["Menteng", "Cikini"]
'''


async def cameras_of(server, username: str) -> tuple[set[str], dict]:
    async with client() as s:
        await login(s, server.url, username, "scope-password")
        async with s.get(server.url + "api/cameras?limit=500") as resp:
            listed = {c["name"] for c in (await resp.json())["cameras"]}
        async with s.get(server.url + "api/kelurahan/regions") as resp:
            regions = await resp.json()
        for name in ("geo1", "hole1", "cikini1", "pluit1"):
            async with s.get(server.url + f"cameras/{name}", allow_redirects=False) as resp:
                assert (resp.status == 200) == (name in listed), (username, name, resp.status)
    return listed, regions


async def test_location_and_kecamatan_scopes(tmp_path: Path, write_config, start_server) -> None:
    geo = tmp_path / "kelurahan.geojson"
    geo.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"kelurahan": "Menteng"},
         "geometry": {"type": "Polygon", "coordinates": [SQUARE, HOLE]}}]}))
    async with start_server(write_config(config(geo))) as server:
        catalog = server.runtime.catalog
        for name, role, scope in (("kv-menteng", "kelurahan_viewer", "Menteng"),
                                  ("kv-kec", "kelurahan_viewer", "kecamatan:Menteng"),
                                  ("kv-pluit", "kelurahan_viewer", "Pluit"), ("admin2", "admin", None)):
            await create_user(catalog, name, "scope-password", role, scope)
        from nvr.storage.plates_catalog import NewSighting

        for cam in ("geo1", "pluit1"):  # plate sightings follow the same scope (the lpr plugin's permission)
            await catalog.upsert_camera(cam)
            await catalog.add_plate_sighting(NewSighting(
                camera=cam, plate="B 1234 XYZ", plate_key="B1234XYZ", confidence=0.9, reads=3, agreement=1.0,
                first_us=1_000_000, last_us=2_000_000, best_us=1_500_000, footage_start_us=0,
                footage_end_us=3_000_000), b"\xff\xd8crop")
        await create_user(catalog, "piket", "scope-password", "duty_officer", "Menteng")
        async with client() as s:
            await login(s, server.url, "piket", "scope-password")
            async with s.get(server.url + "api/plates") as resp:
                assert [x["camera"] for x in (await resp.json())["sightings"]] == ["geo1"]
        listed, regions = await cameras_of(server, "kv-menteng")
        assert listed == {"geo1"}  # in the polygon; hole1 sits in its hole
        assert regions["cameras"] == {"geo1": {"kelurahan": "Menteng", "kecamatan": "Menteng",
                                               "kota": "Jakarta Pusat", "source": "boundary"}}
        assert regions["tree"] is None  # the tree is for users of all cameras
        assert (await cameras_of(server, "kv-kec"))[0] == {"geo1", "cikini1"}
        assert (await cameras_of(server, "kv-pluit"))[0] == {"pluit1"}
        listed, regions = await cameras_of(server, "admin2")
        assert listed == {"geo1", "hole1", "cikini1", "pluit1"}
        assert regions["cameras"]["hole1"]["source"] == "none"
        assert regions["tree"] == {"Jakarta Pusat": {"Menteng": ["Menteng", "Cikini"]}}
        async with client() as s:  # an all-camera user previews one kecamatan's office screen
            await login(s, server.url, "admin2", "scope-password")
            for area, shown in (("kecamatan:Menteng", {"geo1", "cikini1"}), ("Cikini", {"cikini1"}), ("", None)):
                async with s.get(server.url + "kelurahan", params={"area": area}) as resp:
                    html = await resp.text()
                tiles = {n for n in ("geo1", "hole1", "cikini1", "pluit1") if f'href="/cameras/{n}"' in html}
                assert tiles == (shown or {"geo1", "hole1", "cikini1", "pluit1"}), area
            assert '<option value="kecamatan:Menteng">Kecamatan Menteng</option>' in html
        async with client() as s:  # a scoped user's area stays inside their scope
            await login(s, server.url, "kv-pluit", "scope-password")
            async with s.get(server.url + "kelurahan", params={"area": "kecamatan:Menteng"}) as resp:
                html = await resp.text()
            assert "/cameras/" not in html and "<select" not in html


async def test_admin_page_creates_a_kecamatan_duty_officer(write_config, start_server) -> None:
    from tests.conftest import ADMIN_PASSWORD
    from tests.web.test_auth import csrf_of

    path = write_config('''
[[cameras]]
name = "cikini1"
kelurahan = "Cikini"
kecamatan = "Menteng"
enabled = false
stream = { main = "rtsp://127.0.0.1:9/cikini1" }
[plugins.kelurahan]
public_cameras = ["cikini1"]
''')
    async with start_server(path) as server:
        async with client() as s:
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            async with s.get(server.url + "admin") as page:
                html = await page.text()
                assert "<option>kecamatan:Menteng</option>" in html and "duty_officer" in html
                # the plugin's section (web_fragment slot "admin"): share links and public cameras
                assert 'href="/kelurahan/shares"' in html and 'href="/public/cameras/cikini1"' in html
            form = {"csrf_token": csrf_of(html), "username": "piket", "password": "piket-password",
                    "role": "duty_officer", "kelurahan": ""}
            async with s.post(server.url + "admin/users", data=form) as resp:
                assert resp.status == 400 and "must be bound to a kelurahan" in await resp.text()
            async with s.post(server.url + "admin/users", data=form | {"kelurahan": "kecamatan:Menteng"}) as resp:
                assert resp.status == 200
        user = await server.runtime.catalog.get_user("piket")
        assert (user.role, user.kelurahan) == ("duty_officer", "kecamatan:Menteng")


def test_a_broken_boundary_file_is_a_config_error_naming_the_key(tmp_path: Path, write_config) -> None:
    from nvr.config import load_config
    from nvr.errors import ConfigError
    from nvr.plugin_host import PluginHost

    (tmp_path / "bad.geojson").write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                                          '"properties": {"kelurahan": "X"}, "geometry": {"type": "Point"}}]}')
    path = write_config('[plugins.kelurahan]\nboundaries = "bad.geojson"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, PluginHost(load_entry_points=False).config_models())
    text = str(err.value)
    assert "plugins.kelurahan.boundaries" in text and "feature 0 (X): geometry type 'Point'" in text
    (tmp_path / "bad.geojson").unlink()
    with pytest.raises(ConfigError, match="bad.geojson: cannot read"):
        load_config(path, PluginHost(load_entry_points=False).config_models())
