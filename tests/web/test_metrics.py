"""/metrics: Prometheus text, login required, series scoped to the caller's cameras; /healthz open and terse."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from nvr.users import create_user
from tests.conftest import ADMIN_PASSWORD
from tests.web.test_auth import client, login
from tests.web.test_events import CAMERAS


def series(text: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample.labels)
    return out


async def test_metrics_scoped_and_healthz(write_config, start_server) -> None:
    async with start_server(write_config(CAMERAS)) as server:
        await create_user(server.runtime.catalog, "menteng", "menteng-password", "viewer", "Menteng")
        async with aiohttp.ClientSession() as anon:
            async with anon.get(server.url + "healthz") as resp:
                assert resp.status == 200 and await resp.json() == {"status": "ok"}
            async with anon.get(server.url + "metrics", allow_redirects=False) as resp:
                assert resp.status in (303, 401)
        async with client() as s:
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            async with s.get(server.url + "metrics") as resp:
                assert resp.status == 200 and resp.content_type == "text/plain"
                admin = series(await resp.text())
        cams = {labels["camera"] for labels in admin["nvr_camera_up"]}
        assert cams == {"menteng1", "gambir1"}
        assert "nvr_disk_free_bytes" in admin and "nvr_plugin_errors_total" in admin
        async with client() as s:
            await login(s, server.url, "menteng", "menteng-password")
            async with s.get(server.url + "metrics") as resp:
                text = await resp.text()
        assert "gambir" not in text and "menteng1" in text
        assert "nvr_disk_free_bytes" not in text and "nvr_plugin_errors" not in text  # process-wide: all-camera users
