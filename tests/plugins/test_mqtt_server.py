"""The event bus in a running server: pipeline events reach a subscriber; a broker outage stops nothing."""

from __future__ import annotations

import asyncio
import time

import pytest

from nvr.plugins.mqtt import bus_of
from tests.analysis_helpers import OrangePlugin, scene_server
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import wait_for
from tests.plugins.test_mqtt_bus import Broker, Subscriber, broker  # noqa: F401 - the fixture
from tests.web.test_auth import client, login

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # it measures the event loop's stalls


def server_toml(sim, port: int) -> str:
    return f'''
[analysis]
detector = "orange"

[[cameras]]
name = "cam"
stream = {{ main = "{sim.url("cam", "main")}", sub = "{sim.url("cam", "sub")}" }}
[cameras.detect]
enabled = true
fps = 1
objects = ["orange"]

[plugins.mqtt]
port = {port}
node = "node-a"
reconnect_min_s = 0.2
reconnect_max_s = 1.0
'''


class LoopLag:
    """Measures how late a 20 ms sleep wakes up: the event loop's worst stall while it runs."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(0.02)
            self.worst = max(self.worst, time.monotonic() - started - 0.02)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def test_events_and_states_reach_subscribers_and_an_outage_stops_nothing(
        broker: Broker, write_config, start_server) -> None:  # noqa: F811
    events, state = "nvr/events/cam/object", "nvr/cameras/cam/state"
    async with scene_server("people-1") as sim, Subscriber(broker.port) as sub:
        path = write_config(server_toml(sim, broker.port))
        async with start_server(path, plugins=[("orange", OrangePlugin())]) as server:
            await wait_for(lambda: any(m["type"] == "started" for m in sub.of(events)), timeout=30)
            started = sub.of(events)[0]
            assert (started["camera"], started["kind"], started["label"], started["ongoing"]) == (
                "cam", "object", "orange", True)
            assert started["has_snapshot"] and started["path"] == f"/events/{started['id']}"
            await wait_for(lambda: sub.of(state) and sub.of(state)[-1]["state"] == "recording")
            async with Subscriber(broker.port, client_id="late", persistent=False) as late:
                await wait_for(lambda: late.of(state) and late.payloads("nvr/nodes/node-a/availability"))
            assert late.of(state)[-1]["state"] == "recording"
            assert late.payloads("nvr/nodes/node-a/availability") == [b"online"] and not late.of(events)

            bus, mqtt_status = bus_of(server.runtime), server.runtime.plugins.status["mqtt"]
            assert bus is not None and mqtt_status.healthy
            recorder = server.runtime.cameras.worker("cam").recorder
            broker.stop()
            outage_us = time.time_ns() // 1000
            with LoopLag() as lag:
                frames = recorder.stats.frames
                await wait_for(lambda: not mqtt_status.healthy, timeout=10)
                assert "unreachable" in mqtt_status.last_error
                async with client() as web:  # the UI works, and shows the bus's health
                    await login(web, server.url, "admin", ADMIN_PASSWORD)
                    async with web.get(server.url + "cameras") as resp:
                        page = await resp.text()
                assert resp.status == 200 and 'data-plugin="mqtt"' in page and "unreachable" in page
                await wait_for(lambda: bus.status()["queued"] > 0, timeout=15)  # an update, written every 5 s
                assert recorder.stats.frames > frames + 20  # still recording at 10 fps
            assert server.runtime.cameras.status("cam").state == "recording"
            assert lag.worst < 1.0, f"the event loop stalled {lag.worst:.3f} s during the outage"
            broker.start()
            await wait_for(lambda: any(m["type"] == "updated" and m["end_us"] > outage_us for m in sub.of(events)),
                           timeout=20)
            await wait_for(lambda: mqtt_status.healthy)
            assert bus.stats.dropped == 0
    ended = [m for m in sub.of(events) if m["type"] == "ended"]
    assert [m["id"] for m in ended] == [started["id"]] and not ended[0]["ongoing"]
    # analysis ends the open event at shutdown before plugins stop, so it arrives as a real end (no stand-in)
    assert "reason" not in ended[0] and ended[0]["end_us"] > outage_us
    assert sub.payloads("nvr/nodes/node-a/availability")[-1] == b"offline"
