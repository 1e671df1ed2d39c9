"""A playing session's watchdog checks on a real RTSP connection: keep-alive, stall, closed by the camera."""

from __future__ import annotations

import asyncio
import time

from nvr.rtsp_client import RtspClient
from nvr.rtsp_watch import SessionWatch
from nvr.sim.rtsp import RtspServer
from tests.helpers import wait_for
from tests.test_rtsp_client import play


async def test_keepalive_stall_and_close_are_reported() -> None:
    async with RtspServer(host="127.0.0.1", port=0) as sim:
        faults = sim.add_camera("cam")
        client = RtspClient(sim.url("cam", "sub"))
        capture, url = await play(client)
        client.session_timeout_s = 2.0  # keep-alive every second
        sent: list[str] = []
        original = client.keepalive
        client.keepalive = lambda u: (sent.append(u), original(u))[1]  # type: ignore[method-assign]
        started = time.monotonic()
        watch = SessionWatch(client, url, camera="cam", stall_s=1.5, batch_s=0.1, started=started,
                             closed_detail="the stream ended")
        assert watch.keepalive_s == 1.0
        now = time.monotonic()
        assert watch.check(now, now) is None and not sent
        await asyncio.sleep(1.1)
        now = time.monotonic()
        assert watch.check(now, now) is None
        await wait_for(lambda: sent == [url] and watch._keepalive.done(), timeout=3)
        assert watch._keepalive.exception() is None  # the camera answered it
        assert watch.check(now, now - 1.6) == ("stalled", "no video for 1.5 s")
        faults.drop_after = 0.0  # the camera hangs up
        await wait_for(lambda: client.closed.done(), timeout=5)
        assert watch.check(time.monotonic(), time.monotonic()) == ("offline", "the stream ended")
        await watch.close()
        client.abort()
    assert capture.packets
