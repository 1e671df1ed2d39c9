"""The Exports page in a real headless Chromium: fill the form, follow the job, fetch the bundle link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.export_media import T0, record
from tests.web.test_browser import browser  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


async def test_export_from_the_page(browser, write_config, start_server, tmp_path: Path) -> None:  # noqa: F811
    config = write_config('''
        [[cameras]]
        name = "taman-suropati"
        kelurahan = "Menteng"
        stream = { main = "rtsp://127.0.0.1:9/main" }
    ''')
    async with start_server(config) as server:
        await record(server.runtime.catalog, server.runtime.config.storage.root, "taman-suropati", T0, count=3,
                     kelurahan="Menteng")
        page = await browser.new_page()
        await page.goto(server.url + "login")
        await page.fill("input[name=username]", "admin")
        await page.fill("input[name=password]", ADMIN_PASSWORD)
        await page.click("button[type=submit]")
        await page.click("text=Exports")
        assert page.url.endswith("/exports")
        await page.select_option("select[name=cameras]", "taman-suropati")
        await page.fill("form[action='/exports'] input[name=start]", "2024-05-01T17:00:01")
        await page.fill("form[action='/exports'] input[name=end]", "2024-05-01T17:00:05")
        await page.fill("input[name=case]", "LP/B/42/2024")
        await page.fill("input[name=reason]", "tawuran, complaint 5521")
        await page.check("input[name=hold]")
        await page.click("form[action='/exports'] button[type=submit]")
        link = page.locator("tr[data-export] a", has_text="bundle.zip")
        for _ in range(50):  # the page refreshes itself every 3 s while a job runs
            if await link.count():
                break
            await page.reload()
        assert await link.count() == 1
        row = await page.locator("tr[data-export]").inner_text()
        assert "LP/B/42/2024" in row and "done" in row and "held" in row
        assert "sha256:" in await page.locator("code.fingerprint").inner_text()
        if os.environ.get("NVR_SCREENSHOTS"):
            await page.screenshot(path=os.environ["NVR_SCREENSHOTS"] + "/exports.png", full_page=True)
        async with page.expect_download() as download:
            await link.click()
        path = tmp_path / "bundle.zip"
        await (await download.value).save_as(path)
        from nvr.export_verify import verify_bundle

        assert verify_bundle(path).ok
