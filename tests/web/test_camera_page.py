"""The camera page and its timeline API: recorded spans, gaps, runs, events; validation and scope."""

from __future__ import annotations

import time

from nvr.storage.events_catalog import NewEvent
from nvr.users import create_user
from tests.conftest import ADMIN_PASSWORD
from tests.web.test_auth import client, login
from tests.web.test_events import CAMERAS

S = 1_000_000
SHA = "0" * 64


async def test_timeline_and_camera_page(write_config, start_server) -> None:
    async with start_server(write_config(CAMERAS)) as server:
        catalog = server.runtime.catalog
        await catalog.upsert_camera("menteng1")
        await catalog.upsert_camera("gambir1")
        base = (int(time.time()) // 3600 - 2) * 3600 * S  # two hours ago, on the hour
        run = await catalog.start_run("menteng1", base)
        for i in range(3):  # 0-60 s, 60-120 s, then a gap, 180-240 s
            start = base + (i if i < 2 else 3) * 60 * S
            await catalog.add_segment(run_id=run.id, start_time=start, end_time=start + 60 * S,
                                      media_duration=60 * 90_000, path=f"menteng1/x/{i}.mp4", size_bytes=1000,
                                      sha256=SHA, frames=900, keyframes=30, codec="h264")
        await catalog.end_run(run.id, base + 240 * S, "stopped")
        ev = await catalog.open_event(NewEvent(camera="menteng1", kind="object", label="person", score=0.9,
                                               start_us=base + 70 * S, end_us=base + 80 * S, pre_roll_us=5 * S))
        await create_user(catalog, "gambir", "gambir-password", "viewer", "Gambir")
        async with client() as s:
            await login(s, server.url, "admin", ADMIN_PASSWORD)
            url = f"{server.url}api/cameras/menteng1/timeline?start_us={base}&end_us={base + 300 * S}"
            async with s.get(url) as resp:
                tl = await resp.json()
            assert tl["recorded"] == [[base, base + 120 * S], [base + 180 * S, base + 240 * S]]
            assert tl["gaps"] == [[base + 120 * S, base + 180 * S], [base + 240 * S, base + 300 * S]]
            assert tl["runs"] == [{"id": run.id, "start_us": base, "end_us": base + 240 * S, "reason": "stopped"}]
            (event,) = tl["events"]
            assert event["id"] == ev.id and event["footage"]["start_us"] == base + 65 * S
            for query, field in (("start_us=1", "end_us"), ("start_us=5&end_us=4", "end_us"),
                                 ("start_us=x&end_us=1", "start_us"), (f"start_us=0&end_us={8 * 24 * 3600 * S}",
                                                                       "end_us")):
                async with s.get(f"{server.url}api/cameras/menteng1/timeline?{query}") as resp:
                    assert resp.status == 400 and field in await resp.text(), query
            async with s.get(server.url + "cameras/menteng1") as resp:
                html = await resp.text()
            assert resp.status == 200 and 'data-camera="menteng1"' in html and "/static/camera.js" in html
            async with s.get(server.url + "cameras/menteng1?day=yesterday") as resp:
                assert resp.status == 400 and "day" in await resp.text()
        async with client() as s:
            await login(s, server.url, "gambir", "gambir-password")
            for path in ("cameras/menteng1", f"api/cameras/menteng1/timeline?start_us={base}&end_us={base + S}"):
                async with s.get(server.url + path) as resp:
                    assert resp.status == 404, path
