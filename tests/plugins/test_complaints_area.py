"""A complaint's kelurahan (given, the boundary around its point, else its nearest camera's) and kecamatan scopes,
with the built-in kelurahan plugin's boundaries and region tree, over real HTTP."""

from __future__ import annotations

import json
import math
from pathlib import Path

import aiohttp
import pytest

from nvr.users import create_user
from nvr.web.auth import token_hash
from tests.plugins.test_complaints_api import PASSWORD, REPORTER, SECRETS, payload
from tests.web.test_auth import client, login

pytestmark = pytest.mark.slow

M = 1 / 111_195  # degrees per metre (latitude)
MENTENG_BOX = (-6.2000, 106.8300, -6.1900, 106.8400)  # (lat0, lon0, lat1, lon1)
INSIDE = (-6.1950, 106.8350)
CAMERAS = f"""
[[cameras]]
name = "cam-menteng"
enabled = false
stream = {{ main = "rtsp://127.0.0.1:9/a" }}
location = {{ lat = {MENTENG_BOX[0] + 0.0001}, lon = {MENTENG_BOX[1] + 0.0001} }}
[[cameras]]
name = "cam-gambir"
kelurahan = "Gambir"
kecamatan = "Gambir"
enabled = false
stream = {{ main = "rtsp://127.0.0.1:9/b" }}
location = {{ lat = -6.1700, lon = 106.8150 }}
[plugins.kelurahan]
boundaries = "areas.geojson"
[[plugins.kelurahan.kota]]
name = "Jakarta Pusat"
[[plugins.kelurahan.kota.kecamatan]]
name = "Menteng"
kelurahan = ["Menteng", "Cikini"]
[[plugins.kelurahan.kota.kecamatan]]
name = "Gambir"
kelurahan = ["Gambir"]
"""


def geojson(path: Path) -> None:
    lat0, lon0, lat1, lon1 = MENTENG_BOX
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"kelurahan": "Menteng"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}), encoding="utf-8")


async def test_kelurahan_of_complaints_and_kecamatan_scopes(write_config, start_server, tmp_path: Path) -> None:
    geojson(tmp_path / "areas.geojson")
    async with start_server(write_config(CAMERAS)) as server:
        catalog = server.runtime.catalog
        jaki = await create_user(catalog, "jaki", PASSWORD, "operator")
        await catalog.create_api_token(jaki.id, "city app", token_hash("nvr_area"))
        for name, role, scope in [("piket-kec", "duty_officer", "kecamatan:Menteng"),
                                  ("fkdm-menteng", "kelurahan_viewer", "Menteng"),
                                  ("piket-gambir", "duty_officer", "Gambir")]:
            await create_user(catalog, name, PASSWORD, role, scope)
        made = {}
        just_outside = (MENTENG_BOX[0] - 50 * M, MENTENG_BOX[1] + 0.0001)  # 50 m south of the box, near cam-menteng
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer nvr_area"}) as s:
            for key, where, extra in [("point", INSIDE, {}), ("given", (-6.3, 106.9), {"kelurahan": "Cikini"}),
                                      ("camera-gambir", (-6.1701, 106.8151), {}), ("camera-area", just_outside, {}),
                                      ("nowhere", (-6.4, 106.7), {})]:
                async with s.post(server.url + "api/complaints",
                                  json=payload(f"K-{key}", where, reporter=REPORTER, **extra)) as resp:
                    assert resp.status == 201
                    made[key] = await resp.json()
        assert {k: v["kelurahan"] for k, v in made.items()} == {
            "point": "Menteng", "given": "Cikini", "camera-gambir": "Gambir", "camera-area": "Menteng",
            "nowhere": None}
        assert [c["camera"] for c in made["camera-area"]["cameras"]] == ["cam-menteng"]
        assert math.isclose(made["camera-area"]["cameras"][0]["distance_m"], 50 + 0.0001 / M, abs_tol=1)
        seen = {}
        for user in ("piket-kec", "fkdm-menteng", "piket-gambir"):
            async with client() as s:
                await login(s, server.url, user, PASSWORD)
                async with s.get(server.url + "api/complaints") as resp:
                    body = await resp.text()
                seen[user] = sorted(c["external_id"] for c in json.loads(body)["complaints"])
                assert not [x for x in SECRETS if x in body]
                async with s.get(server.url + f"complaints/{made['point']['id']}") as resp:
                    page = await resp.text()
                assert resp.status == (404 if user == "piket-gambir" else 200)
                assert not [x for x in SECRETS if x in page]
                async with s.get(server.url + "complaints") as resp:
                    page = await resp.text()
                assert ("Gambir" in page) == (user == "piket-gambir")  # filter options: only their kelurahans
        assert seen == {"piket-kec": ["K-camera-area", "K-given", "K-point"],
                        "fkdm-menteng": ["K-camera-area", "K-point"], "piket-gambir": ["K-camera-gambir"]}
