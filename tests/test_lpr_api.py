"""The plate JSON API over real HTTP (roles, kelurahan scope, CSRF, audit) and ``nvr plates search``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from nvr.cli import main
from nvr.plate_text import canonical
from nvr.storage.catalog import open_catalog
from nvr.storage.plates_catalog import NewSighting
from nvr.users import create_user
from tests.web.test_auth import client, login

S = 1_000_000
T0 = 1_767_225_600 * S  # 2026-01-01T00:00:00Z
CAMERAS = '''
[[cameras]]
name = "menteng-1"
kelurahan = "Menteng"
enabled = false
stream = { main = "rtsp://127.0.0.1:9/a" }
[[cameras]]
name = "gambir-1"
kelurahan = "Gambir"
enabled = false
stream = { main = "rtsp://127.0.0.1:9/b" }
[plugins.lpr]
[[plugins.lpr.watchlist]]
plate = "F 1 A"
reason = "from the config"
owner = "Dishub"
'''
JPEG = b"\xff\xd8plate\xff\xd9"


def sighting(plate: str, camera: str, t: int) -> NewSighting:
    return NewSighting(camera=camera, plate=plate, plate_key=canonical(plate), confidence=0.93, reads=4,
                       agreement=0.75, first_us=T0 + t * S, last_us=T0 + (t + 3) * S, best_us=T0 + (t + 1) * S,
                       footage_start_us=T0 + (t - 5) * S, footage_end_us=T0 + (t + 8) * S)


async def seed(catalog) -> dict[str, int]:
    ids = {}
    for name in ("menteng-1", "gambir-1"):
        await catalog.upsert_camera(name)
    for key, plate, camera, t in [("m1", "B 1234 XYZ", "menteng-1", 10), ("g1", "B 1234 XYZ", "gambir-1", 20),
                                  ("m2", "B 1284 XYZ", "menteng-1", 30), ("m3", "AB 27 KT", "menteng-1", 40)]:
        ids[key] = (await catalog.add_plate_sighting(sighting(plate, camera, t), JPEG, (60, 20))).id
    return ids


@pytest.fixture
async def api(write_config, start_server):
    async with start_server(write_config(CAMERAS)) as server:
        catalog = server.runtime.catalog
        ids = await seed(catalog)
        for name, role, scope in [("viewer", "viewer", None), ("op-menteng", "operator", "Menteng"),
                                  ("inv", "investigator", None)]:
            await create_user(catalog, name, "plates-password", role, scope)
        yield server, ids


async def get(s, server, path: str) -> tuple[int, dict | bytes]:
    async with s.get(server.url + path.lstrip("/")) as resp:
        body = await resp.read()
        return resp.status, json.loads(body) if resp.content_type == "application/json" else body


async def test_search_is_scoped_to_the_users_kelurahan(api) -> None:
    server, ids = api
    async with client() as s:
        await login(s, server.url, "viewer", "plates-password")
        status, body = await get(s, server, "/api/plates?q=B1234XYZ")
        assert status == 403 and body["status"] == 403  # plate data is not for viewers
    async with client() as s:
        await login(s, server.url, "op-menteng", "plates-password")
        status, body = await get(s, server, "/api/plates?q=b 1234 xyz")
        assert status == 200
        (hit,) = body["sightings"]  # gambir-1's sighting of the same plate is not there
        assert (hit["id"], hit["camera"], hit["plate"], hit["reads"]) == (ids["m1"], "menteng-1", "B 1234 XYZ", 4)
        assert hit["crop"] == f"/api/plates/{ids['m1']}/crop.jpg" and hit["alert"] is None
        rec = hit["recording"]
        assert (rec["start_us"], rec["end_us"]) == (T0 + 5 * S, T0 + 18 * S)
        assert rec["download"] == f"/api/cameras/menteng-1/download.mp4?start={T0 + 5 * S}&end={T0 + 18 * S}"
        assert rec["page"] == f"/cameras/menteng-1?day=2026-01-01&at={T0 + 5 * S}"  # plays from there
        status, body = await get(s, server, "/api/plates?q=B1234XYZ&mode=fuzzy&max_distance=1")
        assert [(h["plate"], h["distance"]) for h in body["sightings"]] == [("B 1234 XYZ", 0.0), ("B 1284 XYZ", 1.0)]
        status, body = await get(s, server, "/api/plates?q=AB&mode=prefix")
        assert [h["plate"] for h in body["sightings"]] == ["AB 27 KT"]
        status, body = await get(s, server, f"/api/plates?start_us={T0 + 35 * S}")
        assert [h["plate"] for h in body["sightings"]] == ["AB 27 KT"]  # no q: the newest, filtered
        status, body = await get(s, server, "/api/plates?q=B1234XYZ&camera=gambir-1")
        assert status == 404 and body["field"] == "camera"
        status, body = await get(s, server, "/api/plates?q=B1&mode=regex")
        assert status == 400 and body["field"] == "mode"
        status, body = await get(s, server, f"/api/plates/{ids['m1']}")
        assert status == 200 and body["plate"] == "B 1234 XYZ"
        assert (await get(s, server, f"/api/plates/{ids['m1']}/crop.jpg")) == (200, JPEG)
        for path in (f"/api/plates/{ids['g1']}", f"/api/plates/{ids['g1']}/crop.jpg", "/api/plates/999"):
            status, body = await get(s, server, path)
            assert status == 404 and b"gambir" not in json.dumps(body).encode().lower()
        status, _ = await get(s, server, "/api/plates/watchlist")
        assert status == 403  # operators search; investigators keep the watchlist
    audit = await server.runtime.catalog.audit_entries(action="plates.search")
    assert {e.actor for e in audit} == {"op-menteng"}


async def test_watchlist_through_the_api(api) -> None:
    server, _ = api
    async with client() as s:
        await login(s, server.url, "inv", "plates-password")
        async with s.get(server.url + "events") as page:
            from tests.web.test_auth import csrf_of

            token = csrf_of(await page.text())
        entry = {"plate": "b 777 zz", "reason": "stolen, LP/99", "owner": "Polsek Menteng"}
        async with s.post(server.url + "api/plates/watchlist", json=entry) as resp:
            assert resp.status == 403  # no CSRF token
        headers = {"X-CSRF-Token": token}
        async with s.post(server.url + "api/plates/watchlist", json=entry, headers=headers) as resp:
            assert resp.status == 201
            added = await resp.json()
        assert (added["plate"], added["owner"], added["severity"], added["source"], added["created_by"]) == (
            "B 777 ZZ", "Polsek Menteng", "high", "api", "inv")
        async with s.post(server.url + "api/plates/watchlist", json=entry, headers=headers) as resp:
            assert resp.status == 409
        async with s.post(server.url + "api/plates/watchlist", json={**entry, "plate": "F 1 A"},
                          headers=headers) as resp:
            assert resp.status == 409  # already watched in the config file
        async with s.post(server.url + "api/plates/watchlist", json={**entry, "plate": "B 12345"},
                          headers=headers) as resp:
            assert resp.status == 400 and (await resp.json())["field"] == "plate"
        async with s.post(server.url + "api/plates/watchlist", json={"plate": "B 1 A"}, headers=headers) as resp:
            assert resp.status == 400 and (await resp.json())["field"] in ("reason", "owner")
        status, body = await get(s, server, "/api/plates/watchlist")
        assert [(e["plate"], e["source"]) for e in body["watchlist"]] == [("F 1 A", "config"), ("B 777 ZZ", "api")]
        async with s.delete(server.url + f"api/plates/watchlist/{added['id']}", headers=headers) as resp:
            assert resp.status == 200
        async with s.delete(server.url + f"api/plates/watchlist/{added['id']}", headers=headers) as resp:
            assert resp.status == 404
        status, body = await get(s, server, "/api/plates/watchlist")
        assert [e["plate"] for e in body["watchlist"]] == ["F 1 A"]
        status, _ = await get(s, server, "/api/plates/status")
        assert status == 403  # admins only
    actions = [e.action for e in await server.runtime.catalog.audit_entries()]
    assert "plates.watchlist.add" in actions and "plates.watchlist.remove" in actions


def test_cli_plates_search(write_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(CAMERAS)

    async def seeded() -> None:
        async with await open_catalog(str(tmp_path / "catalog.db")) as catalog:
            await seed(catalog)

    (tmp_path / "storage").mkdir()
    asyncio.run(seeded())
    assert main(["plates", "search", "b1234xyz", "-c", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["id", "seen", "(UTC)", "camera"]
    assert [line.split()[2] for line in out[1:]] == ["gambir-1", "menteng-1"]  # newest first
    assert "2026-01-01T00:00:21Z" in out[1] and "2026-01-01T00:00:15Z .. 2026-01-01T00:00:28Z" in out[1]
    assert main(["plates", "search", "8 I234 XYZ", "-c", str(path), "--mode", "fuzzy", "--max-distance", "1",
                 "--camera", "menteng-1", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["plate"], r["distance"]) for r in rows] == [("B 1234 XYZ", 0.5)]
    assert main(["plates", "search", "B1", "-c", str(path), "--mode", "prefix", "--from", "2026-01-01T07:00:25+07:00",
                 "--to", "2026-01-01T00:00:35Z"]) == 0
    assert [line.split()[3:6] for line in capsys.readouterr().out.splitlines()[1:]] == [["B", "1284", "XYZ"]]
    assert main(["plates", "search", "B1", "-c", str(path), "--from", "yesterday"]) == 2
    assert "ISO 8601" in capsys.readouterr().err
    assert main(["plates", "search", "ZZ 9999", "-c", str(path)]) == 0
    assert "no sightings" in capsys.readouterr().out
