"""A complaint's linked footage: playable inline, exported as a signed evidence bundle that holds no reporter."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

import aiohttp
import pytest

from nvr.clock import ManualClock, from_utc_us
from nvr.users import create_user
from nvr.web.auth import token_hash
from tests.export_media import record
from tests.plugins.test_complaints_api import CAMERAS, MENTENG, PASSWORD, REPORTER, SECRETS, T0, payload
from tests.web.test_auth import client, csrf_of, login
from tests.web.test_browser import browser  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow
S = 1_000_000


async def wait_done(s: aiohttp.ClientSession, url: str) -> dict:
    for _ in range(400):
        async with s.get(url) as resp:
            job = await resp.json()
        if job["state"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError("export did not finish")


async def test_linked_clips_play_and_export_as_evidence_without_the_reporter(write_config, start_server) -> None:
    async with start_server(write_config(CAMERAS)) as server:
        runtime = server.runtime
        runtime.clock = ManualClock(from_utc_us(T0 + 60 * S))
        catalog = runtime.catalog
        root = runtime.config.storage.root
        segments = await record(catalog, root, "menteng-1", T0 - 6 * S, 6, seconds=2, kelurahan="Menteng")
        jaki = await create_user(catalog, "jaki", PASSWORD, "operator")
        await catalog.create_api_token(jaki.id, "city app", token_hash("nvr_jaki"))
        await create_user(catalog, "inv", PASSWORD, "investigator")
        await create_user(catalog, "op-menteng", PASSWORD, "operator", "Menteng")
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer nvr_jaki"}) as s:
            async with s.post(server.url + "api/complaints", json=payload("E-1", MENTENG, reporter=REPORTER)) as resp:
                made = await resp.json()
        cid = made["id"]
        (cam,) = made["cameras"]
        assert (cam["camera"], cam["segments"]) == ("menteng-1", len(segments))
        async with client() as s:
            await login(s, server.url, "op-menteng", PASSWORD)
            async with s.get(server.url + cam["play"].lstrip("/")) as resp:  # the inline player's source
                clip = await resp.read()
                assert resp.status == 200 and resp.content_type == "video/mp4" and len(clip) > 1000
            async with s.get(server.url + f"complaints/{cid}") as resp:
                html = await resp.text()
            assert f'src="{cam["play"].replace("&", "&amp;")}"' in html and "Export as evidence" not in html
            async with s.post(server.url + f"api/complaints/{cid}/export", json={},
                              headers={"X-CSRF-Token": csrf_of(html)}) as resp:
                assert resp.status == 403  # evidence exports are the investigators'
        async with client() as s:
            await login(s, server.url, "inv", PASSWORD)
            async with s.get(server.url + f"complaints/{cid}") as resp:
                html = await resp.text()
            assert "Export as evidence" in html
            async with s.post(server.url + f"complaints/{cid}/export", allow_redirects=False,
                              data={"reason": "bukti banjir", "csrf_token": csrf_of(html)}) as resp:
                assert resp.status == 303 and resp.headers["Location"].startswith("/exports#export-")
            job_id = int(resp.headers["Location"].rsplit("-", 1)[1])
            job = await wait_done(s, server.url + f"api/exports/{job_id}")
            assert job["state"] == "done", job
            assert (job["cameras"], job["case"], job["reason"]) == (["menteng-1"], "complaint E-1", "bukti banjir")
            async with s.get(server.url + job["bundle"].lstrip("/")) as resp:
                bundle = await resp.read()
        with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
            names = archive.namelist()
            contents = b"".join(archive.read(n) for n in names)
        assert any(n.endswith(".mp4") for n in names) and b"complaint E-1" in contents
        assert not [x for x in SECRETS if x.encode() in contents]
        audit = await catalog.audit_entries(action="complaint.export")
        assert [(e.actor, e.detail["export"]) for e in audit] == [("inv", job_id)]
        assert not [x for x in SECRETS if x in json.dumps([e.detail for e in audit])]


async def test_complaint_pages_in_chromium(browser, write_config, start_server) -> None:  # noqa: F811
    from tests.web.test_browser_ui import advancing

    async with start_server(write_config(CAMERAS)) as server:
        runtime = server.runtime
        runtime.clock = ManualClock(from_utc_us(T0 + 5 * 86_400 * S))  # day 5: amber
        catalog = runtime.catalog
        await record(catalog, runtime.config.storage.root, "menteng-1", T0 - 6 * S, 6, seconds=2,
                     kelurahan="Menteng")
        jaki = await create_user(catalog, "jaki", PASSWORD, "operator")
        await catalog.create_api_token(jaki.id, "city app", token_hash("nvr_jaki"))
        await create_user(catalog, "op-menteng", PASSWORD, "operator", "Menteng")
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer nvr_jaki"}) as s:
            async with s.post(server.url + "api/complaints", json=payload("B-1", MENTENG, reporter=REPORTER)) as resp:
                cid = (await resp.json())["id"]
        page = await browser.new_page()
        await page.goto(server.url)
        await page.fill("input[name=username]", "op-menteng")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.click("nav >> text=Complaints")
        row = page.locator(f"tr[data-complaint='{cid}']")
        await row.wait_for()
        assert await row.get_attribute("data-sla") == "amber"
        await page.select_option("select[name=sla]", "red")
        await page.click("form.filters button[type=submit]")
        await page.wait_for_url("**/complaints?*sla=red*")
        assert await page.locator(f"tr[data-complaint='{cid}']").count() == 0
        await page.goto(server.url + f"complaints/{cid}")
        assert await page.locator("svg.complaint-map g.map-camera[data-camera='menteng-1']").count() == 1
        assert await page.locator("svg.complaint-map").is_visible()
        await page.evaluate("document.querySelector('video.clip').play()")
        await advancing(page, "video.clip")
        await page.select_option("form.status select[name=status]", "in_progress")
        await page.fill("form.status input[name=note]", "petugas menuju lokasi")
        await page.click("form.status button[type=submit]")
        await page.wait_for_url(f"**/complaints/{cid}")
        assert "petugas menuju lokasi" in await page.locator("ul.history").text_content()
        assert not [x for x in SECRETS if x in await page.content()]
        await page.close()
