"""Adaptive read batching for a playing RTSP-over-TCP connection: fewer, larger socket reads, sized by its rate."""

from __future__ import annotations

import asyncio

from nvr.rtsp_client import RtspClient

AFTER_S = 2.0
"""Batching starts this long into a connection and adapts as often (the rate is measured over this window)."""
MAX_BYTES = 64 * 1024


class ReadBatcher:
    """Keeps ``RtspClient.read_batch`` at about ``window_s`` of the connection's measured byte rate.

    A camera's packets come a few at a time; reading them in batches costs the
    same per byte but far fewer wake-ups of the event loop. Call ``tick`` from
    the connection's watchdog and ``release`` before reading the last bytes.
    """

    def __init__(self, client: RtspClient, window_s: float, started: float, *, after_s: float = AFTER_S,
                 max_bytes: int = MAX_BYTES) -> None:
        self.client, self.window_s, self.after_s, self.max_bytes = client, window_s, after_s, max_bytes
        self.batch = 1
        self._at = started + after_s
        self._bytes = client.wire.received if client.wire is not None else 0

    def tick(self, now: float) -> None:
        """Re-size the batch once per ``after_s`` (a change under a quarter is left alone)."""
        wire = self.client.wire
        if now < self._at or wire is None:
            return
        received = wire.received
        rate = (received - self._bytes) / max(0.1, now - self._at + self.after_s)
        want = max(1, min(self.max_bytes, int(rate * self.window_s)))
        if abs(want - self.batch) > self.batch // 4:
            self.batch = want
            self.client.read_batch(want)
        self._at, self._bytes = now + self.after_s, received

    async def release(self) -> None:
        """Back to reading every byte, and let the loop read what waited below the mark."""
        if self.batch > 1 and not self.client.closed.done():
            self.client.read_batch(1)
            self.batch = 1
            for _ in range(3):
                await asyncio.sleep(0)
