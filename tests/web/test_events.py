"""The events API: listing with filters, one event, snapshots; kelurahan scope and parameter errors."""

from __future__ import annotations

from nvr.storage.events_catalog import NewEvent
from nvr.users import create_user
from tests.conftest import ADMIN_PASSWORD
from tests.web.test_auth import client, login

S = 1_000_000
CAMERAS = """
[[cameras]]
name = "menteng1"
kelurahan = "Menteng"
enabled = false
stream = { main = "rtsp://127.0.0.1:9/a" }
[[cameras]]
name = "gambir1"
kelurahan = "Gambir"
enabled = false
stream = { main = "rtsp://127.0.0.1:9/b" }
"""


async def test_events_api_scoped_filtered_and_validated(write_config, start_server) -> None:
    async with start_server(write_config(CAMERAS)) as server:
        catalog = server.runtime.catalog
        for name in ("menteng1", "gambir1"):
            await catalog.upsert_camera(name)
        m = await catalog.open_event(NewEvent(camera="menteng1", kind="object", label="person", score=0.9,
                                              start_us=100 * S, end_us=110 * S, box=(0.1, 0.2, 0.3, 0.4),
                                              pre_roll_us=5 * S, post_roll_us=5 * S))
        await catalog.set_event_snapshot(m.id, b"\xff\xd8\xff\xe0jpeg", 640, 360, 105 * S)
        g = await catalog.open_event(NewEvent(camera="gambir1", kind="crowd", label="crowd", score=0.8,
                                              start_us=200 * S, end_us=230 * S, severity="critical",
                                              agency="Satpol PP"))
        await create_user(catalog, "menteng-viewer", "viewer-password", "viewer", "Menteng")

        async with client() as s:
            async with s.get(server.url + "api/events", allow_redirects=False) as resp:
                assert resp.status in (302, 303, 401)  # no login, no events
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            async with s.get(server.url + "api/events") as resp:
                listed = (await resp.json())["events"]
            assert [e["id"] for e in listed] == [g.id, m.id]
            first = listed[1]
            assert first["footage"] == {"start_us": 95 * S, "end_us": 115 * S}
            assert first["snapshot"] == f"/api/events/{m.id}/snapshot.jpg" and first["box"] == [0.1, 0.2, 0.3, 0.4]
            async with s.get(server.url + "api/events?kind=crowd") as resp:
                (crowd,) = (await resp.json())["events"]
            assert (crowd["severity"], crowd["agency"], crowd["snapshot"]) == ("critical", "Satpol PP", None)
            async with s.get(server.url + f"api/events/{m.id}/snapshot.jpg") as resp:
                assert resp.status == 200 and resp.content_type == "image/jpeg"
                assert await resp.read() == b"\xff\xd8\xff\xe0jpeg"
            for query, field in (("limit=0", "limit"), ("start_us=abc", "start_us"), ("ongoing=yes", "ongoing")):
                async with s.get(server.url + "api/events?" + query) as resp:
                    assert resp.status == 400 and field in await resp.text()

        async with client() as s:
            await login(s, server.url, "menteng-viewer", "viewer-password")
            async with s.get(server.url + "api/events") as resp:
                assert [e["id"] for e in (await resp.json())["events"]] == [m.id]
            for path in (f"api/events/{g.id}", f"api/events/{g.id}/snapshot.jpg", "api/events?camera=gambir1"):
                async with s.get(server.url + path) as resp:
                    assert resp.status == 404, path
            async with s.get(server.url + f"api/events/{m.id}") as resp:
                assert (await resp.json())["camera"] == "menteng1"


async def test_events_page_and_acknowledgement(write_config, start_server) -> None:
    from tests.web.test_auth import csrf_of

    async with start_server(write_config(CAMERAS)) as server:
        catalog = server.runtime.catalog
        for name in ("menteng1", "gambir1"):
            await catalog.upsert_camera(name)
        m = await catalog.open_event(NewEvent(camera="menteng1", kind="object", label="person", score=0.9,
                                              start_us=100 * S, end_us=110 * S))
        g = await catalog.open_event(NewEvent(camera="gambir1", kind="object", label="car", score=0.8,
                                              start_us=100 * S, end_us=110 * S))
        await create_user(catalog, "viewer", "viewer-password", "viewer")
        await create_user(catalog, "op-menteng", "operator-password", "operator", "Menteng")
        async with client() as s:
            await login(s, server.url, "viewer", "viewer-password")
            async with s.get(server.url + "events") as resp:
                html = await resp.text()
            assert f'data-event="{m.id}"' in html and f'data-event="{g.id}"' in html
            assert '<button type="submit">Acknowledge' not in html
            async with s.post(server.url + f"api/events/{m.id}/ack", json={},
                              headers={"X-CSRF-Token": csrf_of(html)}) as resp:
                assert resp.status == 403
        async with client() as s:
            await login(s, server.url, "op-menteng", "operator-password")
            async with s.get(server.url + "events?label=person") as resp:
                html = await resp.text()
            assert f'data-event="{m.id}"' in html and f'data-event="{g.id}"' not in html
            token = csrf_of(html)
            async with s.post(server.url + f"events/{m.id}/ack", data={"note": "checked"}) as resp:
                assert resp.status == 403  # no CSRF token
            async with s.post(server.url + f"events/{m.id}/ack", data={"note": "checked", "csrf_token": token},
                              allow_redirects=False) as resp:
                assert resp.status == 303
            acked = await catalog.get_event(m.id)
            assert (acked.acknowledged_by, acked.ack_note) == ("op-menteng", "checked")
            async with s.post(server.url + f"api/events/{g.id}/ack", json={"note": "x"},
                              headers={"X-CSRF-Token": token}) as resp:
                assert resp.status == 404  # another kelurahan's event
            async with s.post(server.url + f"api/events/{m.id}/ack", json={"note": 5},
                              headers={"X-CSRF-Token": token}) as resp:
                assert resp.status == 400 and "note" in await resp.text()
            async with s.get(server.url + "events?acknowledged=true") as resp:
                html = await resp.text()
            assert "op-menteng" in html and "checked" in html


async def test_events_api_keyset_pages(write_config, start_server) -> None:
    async with start_server(write_config(CAMERAS)) as server:
        catalog = server.runtime.catalog
        await catalog.upsert_camera("menteng1")
        await catalog.upsert_camera("gone")  # left the config: its events are listed for nobody
        await catalog.open_event(NewEvent(camera="gone", kind="object", label="car", score=0.7, start_us=S, end_us=S))
        made = [(await catalog.open_event(NewEvent(camera="menteng1", kind="object", label="car", score=0.7,
                                                   start_us=i * S, end_us=i * S + S))).id for i in range(5)]
        async with client() as s:
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            seen, url = [], "/api/events?label=car&limit=2"
            while url:
                async with s.get(server.url + url.lstrip("/")) as resp:
                    body = await resp.json()
                seen += [e["id"] for e in body["events"]]
                url = body["next"]
                assert body["limit"] == 2 and "label=car" in (url or "label=car")
            assert seen == made[::-1]
            async with s.get(server.url + "events?label=car&from=1970-01-01T00:00:03&to=1970-01-01T00:00:04") as resp:
                html = await resp.text()  # the page's time filter (UTC): events overlapping [3 s, 4 s)
            assert [f'data-event="{i}"' in html for i in made] == [False, False, True, True, False]
            async with s.get(server.url + "events?from=yesterday") as resp:
                assert resp.status == 400 and "from: a date and time" in await resp.text()
