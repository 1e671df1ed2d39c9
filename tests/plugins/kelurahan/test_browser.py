"""The kelurahan pages in a real headless Chromium: a duty officer's dashboard, escalation form and share link,
and the shared live view opened by someone without an account (faces blurred server-side)."""

from __future__ import annotations

import pytest

from nvr.storage.events_catalog import NewEvent
from nvr.users import create_user
from tests.analysis_helpers import scene_server
from tests.web.test_browser import browser  # noqa: F401 - the Chromium fixture

pytestmark = pytest.mark.slow


async def test_duty_officer_and_a_shared_view_in_chromium(browser, write_config, start_server) -> None:  # noqa: F811
    async with scene_server("people-1", ("park",)) as sim:
        config = write_config(f'''
[[cameras]]
name = "park"
title = "Taman Menteng"
kelurahan = "Menteng"
record = {{ enabled = false }}
stream = {{ main = "{sim.url("park", "main")}" }}
[[cameras]]
name = "gambir1"
kelurahan = "Gambir"
enabled = false
stream = {{ main = "rtsp://127.0.0.1:9/gambir1" }}
''')
        async with start_server(config) as server:
            catalog = server.runtime.catalog
            for cam in ("park", "gambir1"):
                await catalog.upsert_camera(cam)
            ev = await catalog.open_event(NewEvent(camera="park", kind="crowd", label="person", score=0.9,
                                                   start_us=1_000_000, end_us=2_000_000, severity="critical",
                                                   agency="Satpol PP"))
            await catalog.open_event(NewEvent(camera="gambir1", kind="crowd", label="person", score=0.9,
                                              start_us=1_000_000, end_us=2_000_000, severity="high"))
            await create_user(catalog, "piket", "piket-password", "duty_officer", "Menteng")

            page = await browser.new_page()
            await page.goto(server.url + "login")
            await page.fill("input[name=username]", "piket")
            await page.fill("input[name=password]", "piket-password")
            await page.click("button[type=submit]")
            async with page.expect_response(lambda r: "/thumbnail.jpg" in r.url, timeout=20000) as thumb:
                await page.click("header nav >> text=Kelurahan")
            assert (await thumb.value).status == 200  # a live thumbnail of the camera
            await page.wait_for_selector("h1:has-text('Kelurahan Menteng')")
            assert await page.locator("meta[http-equiv=refresh]").count() == 1  # the office screen reloads
            rows = page.locator("table.events").first.locator("tbody tr")
            assert await rows.count() == 1 and "critical" in await rows.first.text_content()
            assert "gambir" not in (await page.content()).lower()

            await rows.first.locator("text=Escalate").click()
            assert await page.input_value("input[name=agency]") == "Satpol PP"
            await page.fill("textarea[name=note]", "kerumunan di taman")
            await page.click("button:has-text('Escalate')")
            await page.wait_for_url(f"**/events/{ev.id}")
            (esc,) = await catalog.escalations((ev.id,))
            assert (esc.agency, esc.escalated_by, esc.note) == ("Satpol PP", "piket", "kerumunan di taman")

            await page.click("header nav >> text=Share links")
            await page.select_option("select[name=camera]", "park")
            await page.fill("input[name=hours]", "2")
            await page.fill("input[name=label]", "warga RW 05")
            await page.click("button:has-text('Create link')")
            link = page.locator("td a[href^='/share/']")
            href = await link.first.get_attribute("href")
            assert href and "warga RW 05" in await page.content()

            anonymous = await browser.new_context()  # no session cookie: a citizen with the link
            public = await anonymous.new_page()
            async with public.expect_response(lambda r: "/snapshot.jpg" in r.url, timeout=20000) as shot:
                await public.goto(server.url + href.lstrip("/"))
            response = await shot.value
            assert response.status == 200 and response.headers["content-type"] == "image/jpeg"
            async with public.expect_response(lambda r: "/snapshot.jpg?t=" in r.url, timeout=20000) as again:
                pass  # the page's script fetches the next picture in place (no page reload)
            assert (await again.value).status == 200
            assert "Faces are blurred" in await public.content()
            await public.goto(server.url + "kelurahan")
            assert public.url.endswith("/login?next=/kelurahan")  # the link opens nothing else
            await anonymous.close()
