"""Samples frames of one camera's stream for analysis: keyframes only when the rate allows, latest frame wins.

The stream is received by nvr's own RTSP client on the shared ingest loop
(``nvr.ingest_thread``), as the recorder's is: RTP is depacketized into access
units there, which costs far less than a demuxer per camera. Only the pictures
analysis will use go on to a decoder, on a small shared thread pool
(``decode_pool``), one camera's pictures in order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import av
import numpy as np

from nvr.camera_worker import backoff_delay
from nvr.clock import Clock, SystemClock, now_us
from nvr.ingest_thread import ingest_loop, submit
from nvr.media_units import AccessUnit, VideoTrack
from nvr.motion import grey_thumbnail
from nvr.rtp_depacketize import VideoDepacketizer
from nvr.rtsp_client import RtspClient
from nvr.rtsp_credentials import scrub
from nvr.rtsp_errors import classify
from nvr.rtsp_watch import SessionWatch

log = logging.getLogger(__name__)

MAX_WIDTH = 960
"""Frames wider than this (a main stream used for lack of a sub stream) are shrunk before analysis."""
KEYFRAME_SLACK = 0.9
"""Keyframes only when the analysis interval is at least this fraction of the keyframe interval."""
STALL_S = 10.0
"""A connection that delivers no picture for this long is dropped and reopened (state ``stalled``)."""
HEALTHY_AFTER_S = 30.0
"""A connection that played this long resets the reconnect backoff."""
READ_BATCH_S = 0.25
"""The ingest loop wakes for an analysis stream when about this much of its media waits (``ReadBatcher``):
analysis takes a picture every second or two, so a quarter of a second of delay costs nothing."""
BACKLOG = 100
"""Pictures waiting for the decoder at most when every picture is decoded; past this, the waiting ones are
dropped and decoding resumes at the next keyframe (counted in ``dropped``)."""
_CHECK_S = 1.0

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def decode_pool() -> ThreadPoolExecutor:
    """The decoder threads shared by every sampler of the process (one per core)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="nvr-decode")
        return _pool


@dataclass(frozen=True, slots=True)
class SampledFrame:
    """A decoded frame handed to analysis. ``time_us`` is the UTC µs the picture arrived."""

    camera: str
    time_us: int
    rgb: np.ndarray
    grey: np.ndarray
    keyframes_only: bool


@dataclass
class SamplerStats:
    """Counters the UI and the benchmark read."""

    state: str = "starting"
    detail: str | None = None
    packets: int = 0
    """Pictures (access units) received."""
    decoded: int = 0
    sampled: int = 0
    dropped: int = 0
    """Pictures meant for the decoder that a newer one replaced (or a full backlog dropped)."""
    errors: int = 0
    """Pictures the decoder refused (corrupt data)."""
    keyframes_only: bool = True
    gop_s: float | None = None
    reconnects: int = 0


def annexb(sample: bytes) -> bytes:
    """An MP4 sample (NAL units with 4-byte lengths) as Annex B (start codes), which decoders take as it is."""
    out, p, end = [], 0, len(sample)
    while p + 4 <= end:
        n = int.from_bytes(sample[p:p + 4], "big")
        out.append(b"\x00\x00\x00\x01")
        out.append(sample[p + 4:p + 4 + n])
        p += 4 + n
    return b"".join(out)


class _Decoder:
    """One connection's decoder: pictures queued on the ingest loop, decoded in order on ``decode_pool``."""

    def __init__(self, sampler: FrameSampler, track: VideoTrack) -> None:
        self.sampler = sampler
        self.hevc = track.codec == "hevc"
        self.ctx = av.CodecContext.create(track.codec, "r")
        self.ctx.thread_count = 1  # many cameras share the cores: one thread each decodes the most per core
        self.params = track.params.annexb() if track.params is not None else b""
        self.lock = threading.Lock()
        self.queue: deque[tuple[bytes, int, bool, bool]] = deque()
        """(Annex B picture, time_us, emit it, keyframes-only mode)."""
        self.running = False
        self.closed = False
        self.wait_key = True
        """Nothing decodes before the connection's first keyframe (nor after a dropped backlog)."""

    def put(self, unit: AccessUnit, time_us: int, emit: bool, keyonly: bool) -> None:
        """Queue a picture (ingest loop). In keyframes-only mode the newest waiting picture replaces the others."""
        if unit.params:
            self.params = self._annexb_params(unit.params)
        data = annexb(unit.data)
        if unit.key:
            data = self.params + data
        stats = self.sampler.stats
        with self.lock:
            queue = self.queue
            if keyonly and queue:
                stats.dropped += len(queue)
                queue.clear()
            elif len(queue) >= BACKLOG:
                stats.dropped += len(queue)
                queue.clear()
                self.wait_key = True
            if self.wait_key:
                if not unit.key:
                    stats.dropped += 1
                    return
                self.wait_key = False
            queue.append((data, time_us, emit, keyonly))
            if self.running:
                return
            self.running = True
        decode_pool().submit(self._drain)

    def _annexb_params(self, nals: tuple[bytes, ...]) -> bytes:
        """Parameter sets in the order decoders need (VPS, SPS, PPS), whatever order they arrived in."""
        kind = (lambda nal: (nal[0] >> 1) & 0x3F) if self.hevc else (lambda nal: nal[0] & 0x1F)
        return b"".join(b"\x00\x00\x00\x01" + nal for nal in sorted(dict.fromkeys(nals), key=kind))

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.queue.clear()

    def _drain(self) -> None:
        while True:
            with self.lock:
                if not self.queue or self.closed:
                    self.running = False
                    return
                data, time_us, emit, keyonly = self.queue.popleft()
            try:
                self._decode(data, time_us, emit, keyonly)
            except Exception as exc:  # noqa: BLE001 - a corrupt picture costs that picture, nothing more
                self.sampler.stats.errors += 1
                log.debug("camera %s: picture not decoded: %s", self.sampler.camera, exc)

    def _decode(self, data: bytes, time_us: int, emit: bool, keyonly: bool) -> None:
        ctx, stats = self.ctx, self.sampler.stats
        frames = ctx.decode(av.Packet(data))
        if not frames and keyonly:
            # A decoder that reorders holds a lone keyframe back: drain it, then start afresh.
            frames = ctx.decode(None)
            ctx.flush_buffers()
        for frame in frames:
            stats.decoded += 1
            if emit:
                self.sampler.emit(frame, time_us, keyonly)
                emit = False


class FrameSampler:
    """Receives a camera's stream on the ingest loop and decodes only the frames analysis will use.

    At or below the keyframe rate only keyframes are decoded (other pictures
    never reach a decoder); above it every picture is decoded and frames are
    kept at the rate. ``deliver`` is called from a decoder thread and must not
    block (analysis keeps only the latest frame).
    """

    def __init__(self, *, camera: str, url: str, username: str | None, password: str | None,
                 transport: Literal["tcp", "udp"] | str = "tcp", fps: float,
                 deliver: Callable[[SampledFrame], None], clock: Clock | None = None, io_timeout_s: float = 5.0,
                 reconnect_max_s: float = 30.0, stall_s: float = STALL_S) -> None:
        if transport not in ("tcp", "udp"):
            raise ValueError(f"transport must be 'tcp' or 'udp', not {transport!r}")
        self.camera, self._url = camera, url
        self._username, self._password = username, password
        self._transport: Literal["tcp", "udp"] = "udp" if transport == "udp" else "tcp"
        self.interval_us = round(1_000_000 / fps)
        self._deliver = deliver
        self._clock = clock or SystemClock()
        self._io_timeout_s = io_timeout_s
        self._reconnect_max_s = reconnect_max_s
        self._stall_s = stall_s
        self._stopping = threading.Event()
        self._wake: asyncio.Event | None = None
        """Wakes the connection's watchdog (a closed connection, stop)."""
        self._stop_event: asyncio.Event | None = None
        """Cuts the reconnect backoff short (stop)."""
        self._task: Future[None] | None = None
        self._decoder: _Decoder | None = None
        self._held: AccessUnit | None = None
        self._last_unit = 0.0
        self._keyonly = True
        self._last_key_ts: int | None = None
        self._clock_rate = 90_000
        self._next_due = 0
        self.stats = SamplerStats()

    # ------------------------------------------------------------------ public
    def start(self) -> None:
        """Start sampling (from any thread)."""
        if self._task is not None:
            raise RuntimeError(f"sampler {self.camera} already started")
        self._task = submit(self._main())

    def stop(self, timeout: float | None = None) -> None:
        """Ask the sampler to stop; wait up to ``timeout`` seconds for its connection to close."""
        self._stopping.set()
        try:
            ingest_loop().call_soon_threadsafe(self._signal)
        except RuntimeError:
            pass
        if self._task is not None and timeout:
            try:
                self._task.result(timeout)
            except Exception:  # noqa: BLE001 - timed out or already failed: it ends on its own
                pass

    # ------------------------------------------------------------------ ingest loop
    def _signal(self) -> None:
        for event in (self._wake, self._stop_event):
            if event is not None:
                event.set()

    def _set(self, state: str, detail: str | None) -> None:
        if detail is not None:
            detail = scrub(detail, self._password if self._password and len(self._password) >= 4 else None)
        self.stats.state, self.stats.detail = state, detail

    async def _main(self) -> None:
        self._wake, self._stop_event = asyncio.Event(), asyncio.Event()
        if self._stopping.is_set():
            self._stop_event.set()
        failures = 0
        try:
            while not self._stopping.is_set():
                played_s, state, detail = await self._connection()
                if self._stopping.is_set():
                    break
                self._set(state, detail)
                self.stats.reconnects += 1
                failures = 1 if played_s >= HEALTHY_AFTER_S else failures + 1
                delay = backoff_delay(failures, cap_s=self._reconnect_max_s)
                log.info("camera %s: analysis stream %s (%s); retrying in %.1f s", self.camera, state, detail, delay)
                try:
                    await asyncio.wait_for(self._stop_event.wait(), delay)
                except TimeoutError:
                    pass
        except Exception as exc:  # noqa: BLE001 - the sampler must report, whatever happened
            log.exception("camera %s: sampler crashed", self.camera)
            self._set("error", f"sampler crashed: {type(exc).__name__}")
            return
        self._set("stopped", None)

    async def _connection(self) -> tuple[float, str, str]:
        """One connection: open, receive until it ends; returns (seconds played, state, detail)."""
        self._set("connecting", None)
        client = RtspClient(self._url, self._username, self._password, transport=self._transport,
                            request_timeout=self._io_timeout_s)
        try:
            async with asyncio.timeout(max(self._io_timeout_s * 2, 5.0)):
                media = await client.open()
                self._decoder = _Decoder(self, media.video)
                self._held, self._last_key_ts, self._next_due = None, None, 0
                self._clock_rate = media.video.clock_rate or 90_000
                video = VideoDepacketizer(media.video.codec, self._on_unit, media.video.payload_type)
                await client.setup(media.video_control, video.packet)
                self._last_unit = time.monotonic()
                await client.play(media.play_url)
        except Exception as exc:  # noqa: BLE001 - every failure is a state, not a crash
            client.abort()
            self._close_decoder()
            return 0.0, *classify(exc, opening=True)
        try:
            return await self._receive(client, media.play_url)
        finally:
            self._close_decoder()

    async def _receive(self, client: RtspClient, play_url: str) -> tuple[float, str, str]:
        wake = self._wake
        assert wake is not None
        client.closed.add_done_callback(lambda _f: wake.set())
        started = time.monotonic()
        watch = SessionWatch(client, play_url, camera=self.camera, stall_s=self._stall_s, batch_s=READ_BATCH_S,
                             started=started, closed_detail="the stream ended")
        ended: tuple[str, str] | None = None
        while not self._stopping.is_set():
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), _CHECK_S)
            except TimeoutError:
                pass
            if self._stopping.is_set():
                break
            ended = watch.check(time.monotonic(), self._last_unit)
            if ended is not None:
                break
        await watch.close()
        if client.closed.done():
            client.abort()
        else:
            await client.teardown(play_url)
        played = time.monotonic() - started
        return (played, "stopped", "stopped") if ended is None else (played, *ended)

    def _close_decoder(self) -> None:
        if self._decoder is not None:
            self._decoder.close()
            self._decoder = None

    # ------------------------------------------------------------------ pictures (ingest loop)
    def _on_unit(self, unit: AccessUnit) -> None:
        """One picture; a unit with the timestamp of the one before holds more slices of the same picture."""
        self._last_unit = time.monotonic()
        held = self._held
        if held is not None and unit.ts == held.ts:
            params = held.params if unit.params is None else (held.params or ()) + unit.params
            self._held = AccessUnit(held.ts, unit.recv_us, held.key or unit.key, held.data + unit.data, params)
            return
        self._held = unit
        if held is not None:
            self._picture(held)

    def _picture(self, unit: AccessUnit) -> None:
        stats = self.stats
        stats.packets += 1
        if stats.state != "analysing":
            self._set("analysing", None)
        key = unit.key
        if key:
            last = self._last_key_ts
            if last is not None and unit.ts != last:
                step = (unit.ts - last) & 0xFFFFFFFF
                if step < 1 << 31:
                    stats.gop_s = step / self._clock_rate
                    want = self.interval_us >= KEYFRAME_SLACK * stats.gop_s * 1_000_000
                    if want != self._keyonly:
                        self._keyonly = want
                        log.info("camera %s: analysing %s", self.camera, "keyframes only" if want else
                                 "every decoded frame (the rate is above the keyframe rate)")
            self._last_key_ts = unit.ts
        keyonly = stats.keyframes_only = self._keyonly
        now = now_us(self._clock)
        due = now + self.interval_us // 4 >= self._next_due
        if keyonly and not (key and due):
            return  # never reaches a decoder
        if due:
            step = self.interval_us
            self._next_due = max(self._next_due + step, now - step) if self._next_due else now + step
        decoder = self._decoder
        if decoder is not None:
            decoder.put(unit, now, due, keyonly)

    # ------------------------------------------------------------------ frames (decoder threads)
    def emit(self, frame: av.VideoFrame, time_us: int, keyonly: bool) -> None:
        """Hand a decoded frame to analysis, shrunk to ``MAX_WIDTH``."""
        width, height = frame.width, frame.height
        if width > MAX_WIDTH:
            width, height = MAX_WIDTH, round(height * MAX_WIDTH / width / 2) * 2
        rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
        self.stats.sampled += 1
        self._deliver(SampledFrame(self.camera, time_us, rgb, grey_thumbnail(rgb), keyonly))
