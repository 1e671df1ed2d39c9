"""Camera thumbnails for the dashboard: the latest analysed frame, else one keyframe grabbed from the stream."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import av
import numpy as np
from PIL import Image

from nvr.av_errors import classify
from nvr.rtsp_credentials import credential_url, scrub

if TYPE_CHECKING:
    from nvr.config import CameraConfig
    from nvr.runtime import Runtime

log = logging.getLogger(__name__)

THUMB_WIDTH = 320
GRAB_TIMEOUT_S = 6.0
MAX_PARALLEL_GRABS = 4
"""Stream grabs at once: a dashboard of 60 cameras must not open 60 RTSP sessions together."""
FAILURE_TTL_S = 15.0
"""A failed grab is not retried for this long (an offline camera on a busy dashboard)."""


class ThumbnailUnavailable(Exception):
    """No thumbnail can be had right now; ``str()`` says why (never with credentials)."""


@dataclass
class _Entry:
    jpeg: bytes | None
    at: float
    error: str | None = None


def encode_thumbnail(rgb: np.ndarray, width: int = THUMB_WIDTH) -> bytes:
    """A small JPEG of an RGB frame."""
    img = Image.fromarray(rgb)
    if img.width > width:
        img = img.resize((width, max(2, round(img.height * width / img.width))), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=70)
    return out.getvalue()


def grab_keyframe(url: str, username: str | None, password: str | None, transport: str = "tcp",
                  timeout_s: float = GRAB_TIMEOUT_S) -> np.ndarray:
    """Connect, decode the first keyframe only, disconnect. Blocking; raises ``ThumbnailUnavailable``."""
    started = time.monotonic()
    options = {"rtsp_transport": transport, "timeout": str(int(timeout_s * 1_000_000))}
    try:
        with av.open(credential_url(url, username, password), options=options,
                     timeout=(timeout_s, timeout_s)) as container:
            stream = container.streams.video[0]
            stream.codec_context.skip_frame = "NONKEY"
            for packet in container.demux(stream):
                if time.monotonic() - started > timeout_s:
                    break
                if not packet.is_keyframe:
                    continue
                for frame in stream.codec_context.decode(packet):
                    width = min(frame.width, THUMB_WIDTH * 2)
                    height = round(frame.height * width / frame.width / 2) * 2
                    return frame.to_ndarray(format="rgb24", width=width, height=height)
    except (av.error.FFmpegError, OSError) as exc:
        state, detail = classify(exc, opening=True, elapsed_s=time.monotonic() - started, open_timeout_s=timeout_s)
        raise ThumbnailUnavailable(f"{state}: {scrub(detail, password)}") from None
    raise ThumbnailUnavailable("no keyframe arrived in time")


class ThumbnailService:
    """Cached thumbnails per camera, refreshed at most every ``max_age_s``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._cache: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._grabs = asyncio.Semaphore(MAX_PARALLEL_GRABS)

    async def get(self, camera: CameraConfig, max_age_s: float = 30.0) -> bytes:
        lock = self._locks.setdefault(camera.name, asyncio.Lock())
        async with lock:  # many viewers of one camera cause one grab
            entry = self._cache.get(camera.name)
            now = time.monotonic()
            if entry is not None and entry.jpeg is not None and now - entry.at <= max_age_s:
                return entry.jpeg
            if entry is not None and entry.error is not None and now - entry.at <= FAILURE_TTL_S:
                raise ThumbnailUnavailable(entry.error)
            try:
                jpeg = await self._fresh(camera, max_age_s)
            except ThumbnailUnavailable as exc:
                self._cache[camera.name] = _Entry(entry.jpeg if entry else None, now, str(exc))
                raise
            self._cache[camera.name] = _Entry(jpeg, time.monotonic())
            return jpeg

    async def _fresh(self, camera: CameraConfig, max_age_s: float) -> bytes:
        analysis = self.runtime.analysis
        pipeline = analysis.cameras.get(camera.name) if analysis is not None else None
        latest = pipeline.latest if pipeline is not None else None
        if latest is not None and time.time() * 1_000_000 - latest.time_us <= max_age_s * 1_000_000:
            return await asyncio.to_thread(encode_thumbnail, latest.rgb)
        url = self._url(camera)
        if url is None:
            raise ThumbnailUnavailable("the camera's stream address is not known yet")
        user, password = camera.rtsp_credentials()
        transport = camera.stream.transport if camera.stream else "tcp"
        async with self._grabs:
            rgb = await asyncio.to_thread(grab_keyframe, url, user, password, transport)
        return await asyncio.to_thread(encode_thumbnail, rgb)

    def _url(self, camera: CameraConfig) -> str | None:
        sub = camera.stream.sub if camera.stream else None
        main = camera.stream.main if camera.stream else None
        status = self.runtime.cameras.status(camera.name) if self.runtime.cameras else None
        if status is not None:
            sub, main = sub or status.sub_uri, main or status.main_uri
        return sub or main
