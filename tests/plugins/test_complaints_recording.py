"""End to end on live footage: simulated cameras record through the server, a complaint links the near ones and
their recorded segments, and the retention planner on a moved clock spares exactly the held footage."""

from __future__ import annotations

import asyncio
import math
import time

import aiohttp
import pytest

from nvr.clock import ManualClock, from_utc_us
from nvr.plugins.complaints.geo import EARTH_RADIUS_M
from nvr.sim.rtsp import RtspServer
from nvr.users import create_user
from nvr.web.auth import token_hash

pytestmark = pytest.mark.slow
S = 1_000_000
DAY = 86_400 * S
P = (-6.1754, 106.8272)
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180


def camera(sim: RtspServer, name: str, north_m: float) -> str:
    return f"""
[[cameras]]
name = "{name}"
kelurahan = "Gambir"
record = {{ segment_seconds = 10, retain_days = 1, event_retain_days = 1 }}
stream = {{ main = "{sim.url(name, 'main')}" }}
location = {{ lat = {P[0] + north_m / M_PER_DEG:.7f}, lon = {P[1]} }}
"""


async def test_a_complaint_links_live_recorded_footage_and_retention_spares_it(write_config, start_server) -> None:
    async with RtspServer(host="127.0.0.1", port=0) as sim:
        for name in ("near-120", "near-40", "far-900"):
            sim.add_camera(name)
        config = write_config("[retention]\nmin_free_percent = 0\nmin_free_gb = 0\n"
                              + camera(sim, "near-120", 120) + camera(sim, "near-40", -40)
                              + camera(sim, "far-900", 900))
        async with start_server(config) as server:
            catalog = server.runtime.catalog
            started = time.time_ns() // 1000
            for _ in range(120):  # a closed segment on every camera (about 10 s)
                counts = [len(await catalog.segments(n, started - 60 * S, started + 600 * S))
                          for n in ("near-120", "near-40", "far-900")]
                if min(counts) >= 1:
                    break
                await asyncio.sleep(0.5)
            assert min(counts) >= 1, f"the cameras recorded too little: {counts}"
            jaki = await create_user(catalog, "jaki", "recording-password", "operator")
            await catalog.create_api_token(jaki.id, "city app", token_hash("nvr_rec"))
            report = time.time_ns() // 1000
            async with aiohttp.ClientSession(headers={"Authorization": "Bearer nvr_rec"}) as s:
                async with s.post(server.url + "api/complaints", json={
                        "external_id": "LIVE-1", "category": "tawuran", "text": "Tawuran pelajar", "lat": P[0],
                        "lon": P[1], "reported_at": report}) as resp:
                    made = await resp.json()
                    assert resp.status == 201, made
                cams = {c["camera"]: c for c in made["cameras"]}
                assert list(cams) == ["near-40", "near-120"] and made["agency"] == "Satpol PP"
                for cam in cams.values():
                    assert cam["segments"] >= 1
                    assert (cam["start_us"], cam["end_us"]) == (report - 30 * 60 * S, report + 10 * 60 * S)
                    async with s.get(server.url + cam["play"].lstrip("/")) as resp:
                        assert resp.status == 200 and len(await resp.read()) > 1000  # real, playable footage
            held = {n: {x.id for x in await catalog.segments(n, report - 30 * 60 * S, report + 10 * 60 * S)}
                    for n in cams}
            others = {x.id for x in await catalog.segments("far-900", started - 60 * S, report + 600 * S)}
            # three days on: retention (1 day) would take every segment, but not the held ones
            server.runtime.clock = ManualClock(from_utc_us(report + 3 * DAY))
            planned = await server.runtime.retention.plan()
            doomed = set(planned.plan.ids)
            assert others and others <= doomed
            assert not doomed & (held["near-40"] | held["near-120"])
            assert held["near-40"] | held["near-120"] <= set(planned.plan.held)
