"""Read batching sized from a real RTSP connection's byte rate, and released before the end."""

from __future__ import annotations

import asyncio
import time

from nvr.rtsp_client import RtspClient
from nvr.rtsp_read_batch import ReadBatcher
from nvr.sim.rtsp import RtspServer
from tests.test_rtsp_client import play


async def test_the_batch_follows_the_byte_rate_and_is_released() -> None:
    async with RtspServer(host="127.0.0.1", port=0) as sim:
        sim.add_camera("cam")
        client = RtspClient(sim.url("cam", "sub"))
        capture, url = await play(client)
        assert client.wire is not None
        marks: list[int] = []
        original = client.read_batch
        client.read_batch = lambda n: (marks.append(n), original(n))  # type: ignore[method-assign]
        batcher = ReadBatcher(client, 0.25, time.monotonic(), after_s=1.0)
        batcher.tick(time.monotonic())
        assert batcher.batch == 1 and not marks  # nothing before after_s
        start_bytes = client.wire.received
        await asyncio.sleep(1.1)
        rate = (client.wire.received - start_bytes) / 1.1
        batcher.tick(time.monotonic())
        assert marks and 0.5 * rate * 0.25 <= batcher.batch <= 1.5 * rate * 0.25, (batcher.batch, rate)
        first = batcher.batch
        batcher.tick(time.monotonic())  # within the window: left alone
        assert batcher.batch == first and len(marks) == 1
        await batcher.release()
        assert batcher.batch == 1 and marks[-1] == 1
        await client.teardown(url)
    assert len(capture.packets) > 20
