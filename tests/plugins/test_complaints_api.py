"""The complaint API and pages over real HTTP: token intake, idempotency, 400s naming fields, SLA, workflow, scope."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math

import aiohttp
import pytest

from nvr.clock import ManualClock, from_utc_us
from nvr.plugins.complaints.geo import EARTH_RADIUS_M
from nvr.storage.complaints_catalog import ComplaintFilter
from nvr.users import create_user
from nvr.web.auth import token_hash
from tests.web.test_auth import client, csrf_of, login

S = 1_000_000
DAY = 86_400 * S
T0 = 1_767_240_000 * S  # 2026-01-01T04:00:00Z
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
MENTENG = (-6.1960, 106.8320)
GAMBIR = (-6.1700, 106.8150)
CAMERAS = f"""
[[cameras]]
name = "menteng-1"
kelurahan = "Menteng"
enabled = false
stream = {{ main = "rtsp://127.0.0.1:9/a" }}
location = {{ lat = {MENTENG[0] + 100 / M_PER_DEG:.7f}, lon = {MENTENG[1]}, direction_deg = 180 }}
[[cameras]]
name = "gambir-1"
kelurahan = "Gambir"
enabled = false
stream = {{ main = "rtsp://127.0.0.1:9/b" }}
location = {{ lat = {GAMBIR[0]}, lon = {GAMBIR[1] + 0.001} }}
"""
PASSWORD = "complaints-password"
REPORTER = {"name": "Siti Rahayu Rahasia", "contact": "+62-812-7777-0001", "id": "jaki-user-31337"}
SECRETS = [REPORTER["name"], REPORTER["contact"], REPORTER["id"], "Rahasia", "7777-0001"]


def payload(external_id: str, where: tuple[float, float] = MENTENG, **kw) -> dict:
    return {"external_id": external_id, "category": "banjir", "text": "Air masuk rumah, setinggi lutut",
            "lat": where[0], "lon": where[1], "reported_at": from_utc_us(T0).isoformat(), **kw}


@pytest.fixture
async def api(write_config, start_server):
    async with start_server(write_config(CAMERAS)) as server:
        runtime = server.runtime
        runtime.clock = ManualClock(from_utc_us(T0 + 60 * S))
        catalog = runtime.catalog
        tokens = {}
        for name, role, scope in [("jaki", "operator", None), ("op-menteng", "operator", "Menteng"),
                                  ("viewer-menteng", "viewer", "Menteng"), ("inv", "investigator", None),
                                  ("viewer-all", "viewer", None)]:
            user = await create_user(catalog, name, PASSWORD, role, scope)
            tokens[name] = f"nvr_test_{name}_token"
            await catalog.create_api_token(user.id, "test", token_hash(tokens[name]))
        yield server, tokens


def bearer(token: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})


async def post(s: aiohttp.ClientSession, url: str, body) -> tuple[int, dict]:
    kwargs = {"data": body, "headers": {"Content-Type": "application/json"}} if isinstance(body, bytes | str) \
        else {"json": body}
    async with s.post(url, **kwargs) as resp:
        return resp.status, await resp.json()


async def get(s: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with s.get(url) as resp:
        return resp.status, await resp.text()


async def test_intake_needs_an_unscoped_token_and_is_idempotent_under_repeated_and_concurrent_posts(api) -> None:
    server, tokens = api
    url = server.url + "api/complaints"
    async with aiohttp.ClientSession() as s:
        status, body = await post(s, url, payload("A-1"))
        assert status == 401
    async with bearer(tokens["op-menteng"]) as s:
        status, body = await post(s, url, payload("A-1"))
        assert status == 403  # intake is city-wide: not for a kelurahan's account
    async with bearer(tokens["viewer-all"]) as s:
        assert (await post(s, url, payload("A-1")))[0] == 403
    async with bearer(tokens["jaki"]) as s:
        status, first = await post(s, url, payload("A-1", reporter=REPORTER))
        assert status == 201 and first["created"] and first["status"] == "linked"
        assert first["agency"] == "Dinas Sumber Daya Air" and first["kelurahan"] == "Menteng"
        assert [c["camera"] for c in first["cameras"]] == ["menteng-1"] and first["cameras"][0]["facing"] is True
        status, again = await post(s, url, payload("A-1", text="sent twice"))
        assert status == 200 and not again["created"] and again["id"] == first["id"]
        assert again["text"] == first["text"]
        results = await asyncio.gather(*(post(s, url, payload("A-2")) for _ in range(10)))
    assert sorted(status for status, _ in results) == [200] * 9 + [201]
    assert len({body["id"] for _, body in results}) == 1
    catalog = server.runtime.catalog
    assert await catalog.count_complaints(ComplaintFilter()) == 2
    assert len(await catalog.list_holds()) == 2  # one hold per linked camera per complaint, not per post


BAD = [
    ({"external_id": None}, "external_id"), ({"category": None}, "category"), ({"text": None}, "text"),
    ({"lat": None}, "lat"), ({"lon": None}, "lon"), ({"reported_at": None}, "reported_at"),
    ({"lat": 91}, "lat"), ({"reported_at": "kemarin sore"}, "reported_at"), ({"category": "gempa"}, "category"),
    ({"text": "x" * 10 * 1024 * 1024}, "text"), ({"reporter": {"name": 5}}, "reporter.name"),
]


async def test_bad_payloads_get_400_naming_the_field_and_store_nothing(api) -> None:
    server, tokens = api
    async with bearer(tokens["jaki"]) as s:
        for change, field in BAD:
            status, body = await post(s, server.url + "api/complaints",
                                      {**payload("BAD-1", reporter=REPORTER), **change})
            assert status == 400 and body["field"] == field and body["status"] == 400, (field, body)
            assert field in body["error"]
    catalog = server.runtime.catalog
    assert await catalog.count_complaints(ComplaintFilter()) == 0 and await catalog.list_holds() == []


async def test_bodies_that_are_not_objects(api, monkeypatch) -> None:
    from nvr.plugins.complaints import api as complaints_api

    server, tokens = api
    async with bearer(tokens["jaki"]) as s:
        assert (await post(s, server.url + "api/complaints", b"{not json"))[1]["field"] == "body"
        assert (await post(s, server.url + "api/complaints", [payload("X")]))[1]["field"] == "body"
        monkeypatch.setattr(complaints_api, "MAX_BODY", 4096)  # the 16 MiB limit, scaled down
        status, body = await post(s, server.url + "api/complaints", b"[" + b" " * 5000 + b"]")
        assert status == 413 and body["field"] == "body"


async def test_reporter_identity_never_reaches_kelurahan_users_pages_api_or_logs(api, caplog) -> None:
    server, tokens = api
    caplog.set_level(logging.DEBUG)
    async with bearer(tokens["jaki"]) as s:
        status, made = await post(s, server.url + "api/complaints", payload("R-1", reporter=REPORTER))
    assert status == 201 and "reporter" not in made  # an operator: below the investigator role that sees reporters
    cid = made["id"]
    paths = ["complaints", f"complaints/{cid}", "api/complaints", f"api/complaints/{cid}",
             "api/complaints?kelurahan=Menteng", "api/audit"]
    for name in ("op-menteng", "viewer-menteng"):
        async with client() as s:
            await login(s, server.url, name, PASSWORD)
            for path in paths:
                status, text = await get(s, server.url + path)
                assert status in (200, 403), (name, path, status)
                assert not [x for x in SECRETS if x in text], (name, path)
                if status == 200 and "complaints" in path:
                    assert "R-1" in text  # they do see the complaint itself
            token = csrf_of((await get(s, server.url + f"complaints/{cid}"))[1])
            if name == "op-menteng":
                async with s.post(server.url + f"api/complaints/{cid}/status", json={"status": "in_progress"},
                                  headers={"X-CSRF-Token": token}) as resp:
                    text = await resp.text()
                assert resp.status == 200 and not [x for x in SECRETS if x in text]
    async with client() as s:  # an investigator of every kelurahan may see the reporter (confidential)
        await login(s, server.url, "inv", PASSWORD)
        status, text = await get(s, server.url + f"api/complaints/{cid}")
        assert json.loads(text)["reporter"] == REPORTER
        status, text = await get(s, server.url + f"complaints/{cid}")
        assert REPORTER["name"] in text and "confidential" in text
        status, text = await get(s, server.url + "api/complaints")
        assert not [x for x in SECRETS if x in text]  # lists never carry it
    audit = await server.runtime.catalog.audit_entries(limit=1000)
    assert not [x for x in SECRETS if x in repr(audit)]
    assert not [x for x in SECRETS if x in caplog.text]
    assert "complaint" in caplog.text  # the logs did talk about it


async def test_sla_colours_move_with_the_clock_and_the_workflow_is_enforced(api) -> None:
    server, tokens = api
    clock: ManualClock = server.runtime.clock
    async with bearer(tokens["jaki"]) as s:
        _, made = await post(s, server.url + "api/complaints", payload("S-1"))
    cid = made["id"]
    assert made["sla"]["colour"] == "green" and made["sla"]["due_us"] == T0 + 6 * DAY
    assert made["received_us"] == T0 + 60 * S  # the server's (injected) clock
    colours = {}
    async with bearer(tokens["op-menteng"]) as s:
        for day in (3, 4, 6, 7):
            clock.set(from_utc_us(T0 + day * DAY))
            _, text = await get(s, server.url + f"api/complaints/{cid}")
            colours[day] = json.loads(text)["sla"]["colour"]
            _, text = await get(s, server.url + f"api/complaints?sla={colours[day]}")
            assert [c["id"] for c in json.loads(text)["complaints"]] == [cid]
            _, text = await get(s, server.url + "complaints")
            assert f'data-sla="{colours[day]}"' in text
        assert colours == {3: "green", 4: "amber", 6: "amber", 7: "red"}
        status, body = await post(s, server.url + f"api/complaints/{cid}/status", {"status": "closed"})
        assert status == 409 and body["field"] == "status" and "next: in_progress" in body["error"]
        status, body = await post(s, server.url + f"api/complaints/{cid}/status", {"status": "done"})
        assert status == 400 and body["field"] == "status"
        status, body = await post(s, server.url + f"api/complaints/{cid}/status", {"status": "in_progress", "note": 5})
        assert status == 400 and body["field"] == "note"
        for step in ("in_progress", "responded"):
            status, body = await post(s, server.url + f"api/complaints/{cid}/status", {"status": step, "note": "ok"})
            assert status == 200 and body["status"] == step
        assert body["sla"]["colour"] == "late"  # answered on day 7, after the day-6 deadline
    async with bearer(tokens["viewer-menteng"]) as s:
        status, body = await post(s, server.url + f"api/complaints/{cid}/status", {"status": "closed"})
        assert status == 403
    trail = await server.runtime.catalog.audit_entries(action="complaint.status", target=f"complaint:{cid}")
    assert [(e.actor, e.detail["to"]) for e in reversed(trail)] == [
        ("system:complaints", "linked"), ("op-menteng", "in_progress"), ("op-menteng", "responded")]


async def test_list_filters_pages_and_kelurahan_scope(api) -> None:
    server, tokens = api
    async with bearer(tokens["jaki"]) as s:
        for i in range(53):
            await post(s, server.url + "api/complaints", payload(f"L-{i:02}", category="sampah" if i % 2 else "banjir"))
        _, far = await post(s, server.url + "api/complaints", payload("G-1", GAMBIR))
        _, nowhere = await post(s, server.url + "api/complaints", payload("N-1", (-6.30, 106.90)))
    assert far["kelurahan"] == "Gambir" and nowhere["kelurahan"] is None and nowhere["status"] == "new"
    async with bearer(tokens["viewer-all"]) as s:
        body = json.loads((await get(s, server.url + "api/complaints"))[1])
        assert (body["total"], len(body["complaints"]), body["page"]) == (55, 50, 1)
        body = json.loads((await get(s, server.url + "api/complaints?page=2"))[1])
        assert len(body["complaints"]) == 5
        body = json.loads((await get(s, server.url + "api/complaints?category=sampah&kelurahan=Menteng"))[1])
        assert body["total"] == 26
        body = json.loads((await get(s, server.url + "api/complaints?status=new"))[1])
        assert [c["external_id"] for c in body["complaints"]] == ["N-1"]
        status, text = await get(s, server.url + "api/complaints?status=nope")
        assert status == 400 and json.loads(text)["field"] == "status"
        status, text = await get(s, server.url + "api/complaints?page=0")
        assert status == 400 and json.loads(text)["field"] == "page"
    async with bearer(tokens["viewer-menteng"]) as s:
        body = json.loads((await get(s, server.url + "api/complaints?kelurahan=Gambir"))[1])
        assert body["total"] == 0
        body = json.loads((await get(s, server.url + "api/complaints"))[1])
        assert body["total"] == 53 and {c["kelurahan"] for c in body["complaints"]} == {"Menteng"}
        for cid in (far["id"], nowhere["id"], 999_999):
            status, text = await get(s, server.url + f"api/complaints/{cid}")
            assert status == 404 and "Gambir" not in text
        status, page = await get(s, server.url + "complaints?page=2")
        assert status == 200 and "Gambir" not in page and 'rel="prev"' in page


async def test_complaint_page_map_forms_and_csrf(api) -> None:
    server, tokens = api
    async with bearer(tokens["jaki"]) as s:
        _, made = await post(s, server.url + "api/complaints", payload("P-1", text="<script>alert(1)</script>"))
    cid = made["id"]
    async with client() as s:
        await login(s, server.url, "op-menteng", PASSWORD)
        status, html = await get(s, server.url + f"complaints/{cid}")
        assert status == 200 and "<svg" in html and 'data-camera="menteng-1"' in html
        assert "gambir-1" not in html and "<script>alert" not in html and "&lt;script&gt;" in html
        assert f'action="/complaints/{cid}/status"' in html and "Export as evidence" not in html
        async with s.post(server.url + f"complaints/{cid}/status", data={"status": "in_progress"},
                          allow_redirects=False) as resp:
            assert resp.status == 403  # no CSRF token
        token = csrf_of(html)
        async with s.post(server.url + f"complaints/{cid}/status", allow_redirects=False,
                          data={"status": "in_progress", "note": "petugas berangkat", "csrf_token": token}) as resp:
            assert resp.status == 303 and resp.headers["Location"] == f"/complaints/{cid}"
        async with s.post(server.url + f"complaints/{cid}/status", allow_redirects=False,
                          data={"status": "closed", "csrf_token": token}) as resp:
            assert resp.status == 409 and "cannot become closed" in await resp.text()
        status, html = await get(s, server.url + f"complaints/{cid}")
        assert "petugas berangkat" in html and "in progress" in html
        status, html = await get(s, server.url + "complaints")
        assert 'href="/complaints"' in html  # the nav item


async def test_camera_and_event_pages_show_open_complaints(api) -> None:
    from nvr.plugins.complaints.fragments import INDEX_KEY, ComplaintIndex, load_index
    from nvr.storage.events_catalog import NewEvent

    server, tokens = api
    runtime = server.runtime
    await runtime.catalog.upsert_camera("menteng-1", kelurahan="Menteng")
    ev = await runtime.catalog.open_event(NewEvent(camera="menteng-1", kind="object", label="water", score=0.8,
                                                   start_us=T0 - 60 * S, end_us=T0 - 50 * S))
    async with bearer(tokens["jaki"]) as s:
        _, made = await post(s, server.url + "api/complaints", payload("F-1", text="<b>banjir</b>"))
    assert [e["id"] for e in made["events"]] == [ev.id]
    cid = made["id"]
    async with client() as s:
        await login(s, server.url, "op-menteng", PASSWORD)
        for path in ("cameras/menteng-1", f"events/{ev.id}"):
            status, html = await get(s, server.url + path)
            assert status == 200 and "Open complaints" in html and f'href="/complaints/{cid}"' in html, path
            assert "<b>banjir" not in html and not [x for x in SECRETS if x in html]
        runtime.extras[INDEX_KEY] = ComplaintIndex()  # as after a restart: rebuilt from the catalog
        assert "Open complaints" not in (await get(s, server.url + "cameras/menteng-1"))[1]
        await load_index(runtime)
        assert f'href="/complaints/{cid}"' in (await get(s, server.url + "cameras/menteng-1"))[1]
        token = csrf_of((await get(s, server.url + f"complaints/{cid}"))[1])
        for step in ("in_progress", "responded", "closed"):
            async with s.post(server.url + f"api/complaints/{cid}/status", json={"status": step},
                              headers={"X-CSRF-Token": token}) as resp:
                assert resp.status == 200
        assert "Open complaints" not in (await get(s, server.url + "cameras/menteng-1"))[1]
    async with client() as s:  # a kelurahan that is not the complaint's sees nothing of it
        await create_user(runtime.catalog, "op-gambir", PASSWORD, "operator", "Gambir")
        await login(s, server.url, "op-gambir", PASSWORD)
        stored = await runtime.catalog.get_complaint(cid)  # pretend it were open and linked to gambir-1 too
        runtime.extras[INDEX_KEY].put(dataclasses.replace(stored, status="linked"), ["gambir-1"])
        assert "Open complaints" not in (await get(s, server.url + "cameras/gambir-1"))[1]
