"""The camera page in a real headless Chromium: log in, see cameras and their states."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.helpers import wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.slow


@pytest.fixture
async def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("NVR_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; scripts/setup --test installs it")
        pytest.skip("Chromium is not installed (scripts/test installs it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def test_login_and_camera_list_in_chromium(browser, write_config, start_server) -> None:
    config = write_config('''
        [[cameras]]
        name = "taman-suropati"
        title = "Taman Suropati"
        kelurahan = "Menteng"
        kecamatan = "Menteng"
        stream = { main = "rtsp://127.0.0.1:9/main" }
    ''')
    async with start_server(config) as server:
        await wait_for(lambda: server.runtime.cameras.status("taman-suropati").state != "starting")
        page = await browser.new_page()
        await page.goto(server.url)
        assert page.url.endswith("/login")
        await page.fill("input[name=username]", "admin")
        await page.fill("input[name=password]", "not-the-password")
        await page.click("button[type=submit]")
        assert "Wrong username or password" in await page.text_content(".error")
        await page.fill("input[name=password]", ADMIN_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_selector(".tile[data-camera=taman-suropati]")  # the dashboard
        await page.click("header nav >> text=Cameras")
        await page.wait_for_selector("tr[data-camera=taman-suropati]")
        row = page.locator("tr[data-camera=taman-suropati]")
        assert "Taman Suropati" in await row.text_content()
        assert await row.locator(".state").text_content() == "offline"
        assert "Menteng" in await row.text_content()
        await page.click("text=Log out")
        await page.wait_for_url("**/login")
