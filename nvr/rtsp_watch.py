"""A playing RTSP session's periodic checks: closed by the camera, stalled, keep-alive due, read batch size."""

from __future__ import annotations

import asyncio
import logging

from nvr.rtsp_client import RtspClient
from nvr.rtsp_errors import classify
from nvr.rtsp_read_batch import ReadBatcher

log = logging.getLogger(__name__)


class SessionWatch:
    """Call ``check`` from the session's watchdog (every second or so), ``close`` when the session ends.

    ``check`` returns why the session must end as ``(state, detail)`` (the
    camera closed it, or no picture for ``stall_s``), or None; meanwhile it
    sends keep-alives at half the session timeout and sizes the read batch.
    """

    def __init__(self, client: RtspClient, play_url: str, *, camera: str, stall_s: float, batch_s: float,
                 started: float, closed_detail: str = "connection closed by the camera") -> None:
        self.client, self.play_url, self.camera = client, play_url, camera
        self.stall_s, self.closed_detail = stall_s, closed_detail
        self.batcher = ReadBatcher(client, batch_s, started)
        self.keepalive_s = max(1.0, min(client.session_timeout_s * 0.5, 30.0))
        self._last_keepalive = started
        self._keepalive: asyncio.Task[None] | None = None

    def check(self, now: float, last_picture: float) -> tuple[str, str] | None:
        client = self.client
        if client.closed.done():
            error = client.closed.result()
            return classify(error, opening=False) if error is not None else ("offline", self.closed_detail)
        if now - last_picture >= self.stall_s:
            return "stalled", f"no video for {self.stall_s:g} s"
        if now - self._last_keepalive >= self.keepalive_s and (self._keepalive is None or self._keepalive.done()):
            self._last_keepalive = now
            self._keepalive = asyncio.ensure_future(self._send_keepalive())
        self.batcher.tick(now)
        return None

    async def _send_keepalive(self) -> None:
        try:
            await self.client.keepalive(self.play_url)
        except Exception as exc:  # noqa: BLE001 - a dead connection shows up as closed; a refused keep-alive is harmless
            log.debug("camera %s: keep-alive: %s", self.camera, type(exc).__name__)

    async def close(self) -> None:
        """Stop the keep-alives and read what waits below the batch mark."""
        if self._keepalive is not None:
            self._keepalive.cancel()
        await self.batcher.release()
