"""The operator's path through the UI in a real headless Chromium, on a recording, analysing simulated camera.

Log in; the dashboard lists the camera; its page plays the live stream (currentTime advances); a click on the
timeline plays the recording from that moment; an event's snapshot opens the event's clip; log out.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from nvr.storage.events_catalog import EventFilter
from nvr.storage.plates_catalog import NewSighting
from tests.analysis_helpers import scene_server
from tests.conftest import ADMIN_PASSWORD
from tests.web.test_browser import browser  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


async def video_time(page, selector: str) -> float:
    return await page.evaluate(f"document.querySelector('{selector}').currentTime")


async def advancing(page, selector: str, timeout: float = 25) -> tuple[float, float]:
    """Wait until the video's currentTime moves forward by at least a second; return (first, last)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    first = None
    while loop.time() < end:
        now = await video_time(page, selector)
        if first is None and now > 0:
            first = now
        if first is not None and now >= first + 1.0:
            return first, now
        await asyncio.sleep(0.25)
    raise AssertionError(f"{selector} did not play: currentTime {await video_time(page, selector)}")


async def test_operator_path_in_chromium(browser, write_config, start_server) -> None:  # noqa: F811
    async with scene_server("people-1") as sim:
        config = write_config(f'''
[[cameras]]
name = "lapangan"
title = "Lapangan Banteng"
kelurahan = "Pasar Baru"
record = {{ segment_seconds = 10 }}
stream = {{ main = "{sim.url('cam', 'main')}", sub = "{sim.url('cam', 'sub')}" }}
[cameras.detect]
enabled = true
fps = 1
''')
        async with start_server(config) as server:
            catalog = server.runtime.catalog
            started = int(time.time() * 1_000_000)
            segments: list = []

            async def have_footage() -> bool:
                segments[:] = await catalog.segments("lapangan", started - 60_000_000, started + 600_000_000)
                return len(segments) >= 2

            for _ in range(120):  # two closed segments (about 20 s) and a person event
                if await have_footage() and await catalog.list_events(EventFilter(label="person")):
                    break
                await asyncio.sleep(0.5)
            assert len(segments) >= 2, "the camera recorded nothing"
            (event,) = await catalog.list_events(EventFilter(label="person"))

            page = await browser.new_page()
            await page.goto(server.url)
            await page.fill("input[name=username]", "admin")
            await page.fill("input[name=password]", ADMIN_PASSWORD)
            await page.click("button[type=submit]")
            tile = page.locator(".tile[data-camera=lapangan]")
            await tile.wait_for()
            assert "Lapangan Banteng" in await tile.text_content()
            await tile.click()
            await page.wait_for_url("**/cameras/lapangan")

            first, last = await advancing(page, "#live-video")  # the live stream plays
            assert last > first

            # Click the timeline where the second segment starts: playback starts there.
            target = segments[1].start_time + 1_000_000
            await page.wait_for_selector("#timeline .rec")
            await page.locator("#timeline").scroll_into_view_if_needed()
            box = await page.locator("#timeline").bounding_box()
            viewer = page.locator("#viewer")
            day_start = int(await viewer.get_attribute("data-day-start"))
            day_end = int(await viewer.get_attribute("data-day-end"))
            x = box["x"] + (target - day_start) / (day_end - day_start) * box["width"]
            await page.mouse.click(x, box["y"] + box["height"] / 2)
            await advancing(page, "#player")
            played_from = int(await page.get_attribute("#player", "data-from"))
            day_us_per_px = (day_end - day_start) / box["width"]
            assert abs(played_from - target) <= day_us_per_px, (played_from, target)

            # An event's snapshot opens its clip, which plays.
            await page.goto(server.url + "events")
            await page.click(f"tr[data-event='{event.id}'] img.snap")
            await page.wait_for_url(f"**/events/{event.id}")
            await page.evaluate("document.getElementById('clip').play()")
            await advancing(page, "#clip")

            # The plates page (the lpr plugin's, through the web hooks): a sighting's link plays its moment.
            moment = segments[1].start_time + 2_000_000
            sighting = await catalog.add_plate_sighting(NewSighting(
                camera="lapangan", plate="B 1234 XYZ", plate_key="B1234XYZ", confidence=0.9, reads=3, agreement=1.0,
                first_us=moment, last_us=moment + 1_000_000, best_us=moment, footage_start_us=moment,
                footage_end_us=moment + 5_000_000), b"\xff\xd8crop")
            await page.click("header nav >> text=Plates")
            await page.fill("input[name=q]", "b1234xyz")
            await page.click("#plate-search button[type=submit]")
            await page.click(f"tr[data-sighting='{sighting.id}'] a.play")
            await page.wait_for_url(f"**/cameras/lapangan?day=*&at={moment}")
            await advancing(page, "#player")
            assert int(await page.get_attribute("#player", "data-from")) == moment

            await page.click("text=Log out")
            await page.wait_for_url("**/login")
            await page.goto(server.url + "cameras/lapangan")
            assert page.url.endswith("/login?next=/cameras/lapangan")
