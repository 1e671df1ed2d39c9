"""The plates search page over real HTTP: the lpr plugin's page and nav item, filters, crops, links to the
recording moment, kelurahan scope, roles and audit."""

from __future__ import annotations

from nvr.users import create_user
from tests.test_lpr_api import CAMERAS, T0, S, seed
from tests.web.test_auth import client, login


async def page(s, server, path: str) -> tuple[int, str]:
    async with s.get(server.url + path.lstrip("/")) as resp:
        return resp.status, await resp.text()


async def test_plates_page_searches_within_scope(write_config, start_server) -> None:
    async with start_server(write_config(CAMERAS)) as server:
        catalog = server.runtime.catalog
        ids = await seed(catalog)
        await create_user(catalog, "op-menteng", "plates-password", "operator", "Menteng")
        await create_user(catalog, "viewer", "plates-password", "viewer")
        async with client() as s:
            await login(s, server.url, "op-menteng", "plates-password")
            status, html = await page(s, server, "/plates")
            assert status == 200 and '<a href="/plates">Plates</a>' in html  # the plugin's nav item
            assert f'data-sighting="{ids["m3"]}"' in html and f'data-sighting="{ids["g1"]}"' not in html
            assert "gambir" not in html.lower()  # another kelurahan's camera is not even in the camera list
            status, html = await page(s, server, "/plates?q=b1234xyz&mode=fuzzy&max_distance=1")
            assert status == 200 and html.count("data-sighting=") == 2 and "distance 1.0" in html
            assert f'src="/api/plates/{ids["m1"]}/crop.jpg"' in html
            assert f'href="/cameras/menteng-1?day=2026-01-01&amp;at={T0 + 5 * S}"' in html  # its recording moment
            status, html = await page(s, server, "/plates?q=B1234XYZ&start=2026-01-01T00:00:20&end=2026-01-02T00:00")
            assert status == 200 and "data-sighting=" not in html  # m1 was seen at 00:00:11
            status, html = await page(s, server, "/plates?camera=gambir-1")
            assert status == 404 and "no camera named" in html
            status, html = await page(s, server, "/plates?start=yesterday")
            assert status == 400 and "start: a date and time" in html
        searches = [e for e in await catalog.audit_entries(50) if e.action == "plates.search"]
        assert {e.detail["q"] for e in searches} == {"b1234xyz", "B1234XYZ"} and searches[0].actor == "op-menteng"
        async with client() as s:
            await login(s, server.url, "viewer", "plates-password")
            status, html = await page(s, server, "/plates")
            assert status == 403
            status, html = await page(s, server, "/events")
            assert 'href="/plates"' not in html  # no nav item for those who may not search
