"""Samples frames of one camera's stream for analysis: keyframes only when the rate allows, latest frame wins."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

from nvr.av_errors import classify
from nvr.camera_worker import backoff_delay
from nvr.clock import Clock, SystemClock, now_us
from nvr.motion import grey_thumbnail
from nvr.rtsp_credentials import credential_url, scrub

log = logging.getLogger(__name__)

MAX_WIDTH = 960
"""Frames wider than this (a main stream used for lack of a sub stream) are shrunk before analysis."""
KEYFRAME_SLACK = 0.9
"""Keyframes only when the analysis interval is at least this fraction of the keyframe interval."""


@dataclass(frozen=True, slots=True)
class SampledFrame:
    """A decoded frame handed to analysis. ``time_us`` is the UTC µs the packet arrived."""

    camera: str
    time_us: int
    rgb: np.ndarray
    grey: np.ndarray
    keyframes_only: bool


@dataclass
class SamplerStats:
    """Counters the UI and the benchmark read; written by the sampler thread only."""

    state: str = "starting"
    detail: str | None = None
    packets: int = 0
    decoded: int = 0
    sampled: int = 0
    keyframes_only: bool = True
    gop_s: float | None = None
    reconnects: int = 0


class FrameSampler:
    """One thread demuxing a camera's stream with PyAV and decoding only the frames analysis will use.

    At or below the keyframe rate only keyframes are decoded (``skip_frame``
    NONKEY, and other packets never reach the decoder); above it every frame is
    decoded and frames are dropped to the rate. ``deliver`` is called from the
    thread and must not block (analysis keeps only the latest frame).
    """

    def __init__(self, *, camera: str, url: str, username: str | None, password: str | None,
                 transport: str = "tcp", fps: float, deliver: Callable[[SampledFrame], None],
                 clock: Clock | None = None, io_timeout_s: float = 5.0, reconnect_max_s: float = 30.0) -> None:
        self.camera, self._url = camera, url
        self._username, self._password = username, password
        self._transport = transport
        self.interval_us = round(1_000_000 / fps)
        self._deliver = deliver
        self._clock = clock or SystemClock()
        self._io_timeout_s = io_timeout_s
        self._reconnect_max_s = reconnect_max_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = SamplerStats()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"sample-{self.camera}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop; wait up to ``timeout`` seconds (the demuxer notices within its I/O timeout)."""
        self._stop.set()
        if self._thread is not None and timeout:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            started = time.monotonic()
            state, detail = self._session()
            if self._stop.is_set():
                break
            self.stats.state, self.stats.detail = state, detail
            self.stats.reconnects += 1
            failures = 1 if time.monotonic() - started > 30 else failures + 1
            delay = backoff_delay(failures, cap_s=self._reconnect_max_s)
            log.info("camera %s: analysis stream %s (%s); retrying in %.1f s", self.camera, state, detail, delay)
            self._stop.wait(delay)
        self.stats.state = "stopped"

    def _session(self) -> tuple[str, str]:
        options = {"rtsp_transport": self._transport, "timeout": str(int(self._io_timeout_s * 1_000_000))}
        opened = time.monotonic()
        self.stats.state = "connecting"
        try:
            container = av.open(credential_url(self._url, self._username, self._password), options=options,
                                timeout=(self._io_timeout_s, self._io_timeout_s))
        except Exception as exc:  # noqa: BLE001 - every failure is a state, not a crash
            state, detail = classify(exc, opening=True, elapsed_s=time.monotonic() - opened,
                                     open_timeout_s=self._io_timeout_s)
            return state, scrub(detail, self._password)
        try:
            if not container.streams.video:
                return "error", "the stream has no video"
            self._sample(container, container.streams.video[0])
            return "offline", "the stream ended"
        except Exception as exc:  # noqa: BLE001
            state, detail = classify(exc, opening=False, elapsed_s=0, open_timeout_s=self._io_timeout_s)
            return state, scrub(detail, self._password)
        finally:
            container.close()

    def _sample(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> None:
        ctx = stream.codec_context
        ctx.skip_frame = "NONKEY"
        keyonly = True
        last_key_pts: int | None = None
        next_due = 0
        tb = float(stream.time_base) if stream.time_base else 1 / 90_000
        for packet in container.demux(stream):
            if self._stop.is_set():
                return
            if packet.size == 0:
                continue
            self.stats.packets += 1
            if self.stats.state != "analysing":
                self.stats.state, self.stats.detail = "analysing", None
            key = packet.is_keyframe
            if key and packet.pts is not None:
                if last_key_pts is not None and packet.pts > last_key_pts:
                    self.stats.gop_s = (packet.pts - last_key_pts) * tb
                    want = self.interval_us >= KEYFRAME_SLACK * self.stats.gop_s * 1_000_000
                    if want != keyonly:
                        keyonly = want
                        ctx.skip_frame = "NONKEY" if keyonly else "DEFAULT"
                        log.info("camera %s: analysing %s", self.camera, "keyframes only" if keyonly else
                                 "every decoded frame (the rate is above the keyframe rate)")
                last_key_pts = packet.pts
            self.stats.keyframes_only = keyonly
            now = now_us(self._clock)
            slack = self.interval_us // 4
            if keyonly and (not key or now + slack < next_due):
                continue  # never reaches the decoder
            for frame in ctx.decode(packet):
                self.stats.decoded += 1
                if now + slack < next_due:
                    continue
                step = self.interval_us
                next_due = max(next_due + step, now - step) if next_due else now + step
                self._emit(frame, now, keyonly)

    def _emit(self, frame: av.VideoFrame, time_us: int, keyonly: bool) -> None:
        width, height = frame.width, frame.height
        if width > MAX_WIDTH:
            width, height = MAX_WIDTH, round(height * MAX_WIDTH / width / 2) * 2
        rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
        self.stats.sampled += 1
        self._deliver(SampledFrame(self.camera, time_us, rgb, grey_thumbnail(rgb), keyonly))
