"""Records one camera's main stream to fragmented-MP4 segments (stream copy) as a task on the ingest loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from nvr.camera_worker import backoff_delay
from nvr.ingest_thread import ingest_loop, submit
from nvr.media_units import AccessUnit, AudioUnit
from nvr.recorder_events import STATES, RecorderListener, RecorderStats
from nvr.recorder_run import StreamRecorder
from nvr.rtcp import sender_report
from nvr.rtp_audio import AudioDepacketizer
from nvr.rtp_depacketize import VideoDepacketizer
from nvr.rtsp_client import RtspClient, SessionMedia
from nvr.rtsp_credentials import credential_url, scrub
from nvr.rtsp_errors import RtspStatusError, classify
from nvr.rtsp_watch import SessionWatch
from nvr.rtsp_wire import PacketHandler

__all__ = ["Recorder", "RecorderStats", "classify", "credential_url", "scrub"]

log = logging.getLogger(__name__)

IO_TIMEOUT_S = 2.0
"""Upper bound of how often a connection's watchdog looks for a stall, a closed connection or a failure."""
STOP_GRACE_S = 2.5
"""How long ``stop()`` waits for the recorder before reporting ``stopped`` anyway."""
HEALTHY_AFTER_S = 30.0
"""A connection that recorded this long resets the reconnect backoff."""
DRAIN_S = 2.0
"""At the end, how long the recorder waits for its last segments to become durable before saying stopped."""
READ_BATCH_S = 0.08
"""Once a connection has played a while (``rtsp_read_batch.AFTER_S``: the run is anchored on unbatched reads),
the ingest loop wakes for it only when about this much of its media waits in the socket: a few reads a second
instead of one every few packets. It delays a picture by about this much, which the receipt-time envelope
(``docs/design/time.md``) absorbs."""
_RATE_WINDOW_US = 2_000_000

@dataclass
class _Session:
    """One playing connection: the client, what it plays, and the unit consumers."""

    client: RtspClient
    media: SessionMedia
    run: StreamRecorder
    video: VideoDepacketizer
    audio: AudioDepacketizer | None


class Recorder:
    """One camera's recorder. ``start()`` from the event loop; ``await stop()`` returns within ~3 s.

    The connection runs on the shared ingest loop (``nvr.ingest_thread``);
    listener callbacks are delivered on ``loop``, in order.
    """

    def __init__(self, *, camera: str, url: str, username: str | None, password: str | None,
                 transport: Literal["tcp", "udp"], storage_root: Path, segment_seconds: float,
                 stall_timeout_s: float = 10, reconnect_max_s: float = 30, listener: RecorderListener,
                 loop: asyncio.AbstractEventLoop, io_timeout_s: float = IO_TIMEOUT_S,
                 open_timeout_s: float | None = None, healthy_after_s: float = HEALTHY_AFTER_S,
                 stop_grace_s: float = STOP_GRACE_S) -> None:
        if transport not in ("tcp", "udp"):
            raise ValueError(f"transport must be 'tcp' or 'udp', not {transport!r}")
        self.camera, self._url = camera, url
        self._username, self._password = username, password
        self._transport = transport
        self._root = Path(storage_root)
        self._segment_seconds = segment_seconds
        self._stall_s = stall_timeout_s
        self._reconnect_max_s = reconnect_max_s
        self._check_s = max(0.05, min(io_timeout_s, stall_timeout_s / 4, 1.0))
        self._open_timeout_s = open_timeout_s or max(stall_timeout_s, 5.0)
        self._healthy_s = healthy_after_s
        self._stop_grace_s = stop_grace_s
        self._listener, self._loop = listener, loop
        self._task: Future[None] | None = None
        self._done: asyncio.Future[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._opening: asyncio.Future[Any] | None = None
        self._run: StreamRecorder | None = None
        self._video: VideoDepacketizer | None = None
        self._losses = (0, 0)
        """RTP packets lost and pictures dropped on the connections before the current one."""
        self._failure: BaseException | None = None
        self._outbox: deque[tuple[str, tuple[Any, ...]]] = deque()
        self._waiting: Future[int] | None = None
        self._state, self._detail = "stopped", None
        self._frames = self._bytes = self._segments = self._reconnects = 0
        self._last_us: int | None = None
        self._last_video = 0.0
        self._win_start_us = 0
        self._win_frames = self._win_bytes = 0
        self._fps = self._bps = 0.0
        self._last_run_key = 0
        self._last_run_end = 0

    # ------------------------------------------------------------------ public
    def start(self) -> None:
        """Start recording (call from the event loop ``loop``)."""
        if self._task is not None:
            raise RuntimeError(f"recorder {self.camera} already started")
        self._done = self._loop.create_future()
        self._task = submit(self._main())

    async def stop(self) -> None:
        """Stop recording: close the open segment (durably) and the connection; idempotent."""
        self._stopping = True
        self._on_ingest(self._signal)
        if self._done is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._done), self._stop_grace_s)
        except TimeoutError:
            log.warning("camera %s: recorder still busy after %.1f s; reporting stopped", self.camera,
                        self._stop_grace_s)
            self._state, self._detail = "stopped", "stop timed out; the recorder ends on its own"
            self._deliver("state_changed", (self.camera, "stopped", self._detail))

    def retry_now(self) -> None:
        """Cut the current backoff wait short (an operator pressed retry); no effect while connected."""
        self._on_ingest(self._wake.set)

    @property
    def state(self) -> str:
        """Current state (one of ``recorder_events.STATES``)."""
        return self._state

    @property
    def stats(self) -> RecorderStats:
        """A snapshot of the counters."""
        lost, dropped = self._losses
        video = self._video
        if video is not None:
            lost, dropped = lost + video.lost_packets, dropped + video.dropped_units
        return RecorderStats(frames=self._frames, bytes=self._bytes, bitrate_bps=self._bps, fps=self._fps,
                             last_packet_at=self._last_us, segments=self._segments, reconnects=self._reconnects,
                             state=self._state, detail=self._detail, lost_packets=lost, dropped_pictures=dropped)

    # ------------------------------------------------------------------ events (ingest loop -> loop)
    def _on_ingest(self, fn: Any) -> None:
        try:
            ingest_loop().call_soon_threadsafe(fn)
        except RuntimeError:
            pass

    def _signal(self) -> None:
        self._wake.set()
        if self._stopping and self._opening is not None and not self._opening.done():
            self._opening.cancel()

    def _emit(self, name: str, *args: Any) -> None:
        if name == "run_started":
            self._last_run_key = args[0]
            self._set_state("recording", None)
        elif name == "run_ended":
            self._last_run_end = args[1]
        self._outbox.append((name, args))
        if len(self._outbox) == 1 or self._waiting is None:
            self._pump()

    def _pump(self) -> None:
        """Deliver queued events in order; a closed segment waits until its file is durable."""
        box = self._outbox
        while box:
            name, args = box[0]
            if name == "segment_closed":
                seg, durable = args
                if not durable.done():
                    if self._waiting is not durable:
                        self._waiting = durable
                        durable.add_done_callback(lambda _f: self._on_ingest(self._pump))
                    return
                self._waiting = None
                box.popleft()
                error = durable.exception()
                if error is not None:
                    log.error("camera %s: segment %s could not be finished (%s); its .part file is left for "
                              "recovery", self.camera, seg.relpath, error)
                    self._fail(error)
                    continue
                self._segments += 1
                self._post(name, (seg,))
            else:
                box.popleft()
                self._post(name, (self.camera, *args))

    def _post(self, name: str, args: tuple[Any, ...]) -> None:
        try:
            self._loop.call_soon_threadsafe(self._deliver, name, args)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            log.debug("camera %s: event %s dropped (event loop closed)", self.camera, name)

    def _deliver(self, name: str, args: tuple[Any, ...]) -> None:
        try:
            getattr(self._listener, name)(*args)
        except Exception:
            log.exception("camera %s: recorder listener %s failed", self.camera, name)

    def _set_state(self, state: str, detail: str | None) -> None:
        assert state in STATES, state
        if detail is not None:
            detail = scrub(detail, self._password if self._password and len(self._password) >= 4 else None)
        if (state, detail) == (self._state, self._detail) or (state == "stopped" == self._state):
            return
        if state != self._state:
            log.info("camera %s: %s%s", self.camera, state, f" ({detail})" if detail else "")
        self._state, self._detail = state, detail
        self._emit("state_changed", state, detail)

    # ------------------------------------------------------------------ ingest loop
    async def _main(self) -> None:
        failures = 0
        try:
            while not self._stopping:
                started = time.monotonic()
                if self._root.is_dir():
                    self._set_state("connecting", None)
                    recorded_s, state, detail = await self._connection()
                else:  # never create it: an unmounted disk must not fill the system disk instead
                    recorded_s, state, detail = 0.0, "error", f"storage root {self._root} is not a folder"
                if self._stopping:
                    break
                failures = 1 if recorded_s >= self._healthy_s else failures + 1
                self._set_state(state, detail)
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), backoff_delay(failures, cap_s=self._reconnect_max_s))
                except TimeoutError:
                    pass
                self._reconnects += 1
                log.debug("camera %s: reconnecting after %.1f s", self.camera, time.monotonic() - started)
        except BaseException as exc:  # the recorder must report, whatever happened
            log.exception("camera %s: recorder crashed", self.camera)
            self._set_state("error", f"recorder crashed: {type(exc).__name__}")
        finally:
            await self._drain()
            self._set_state("stopped", None)
            done = self._done
            try:
                self._loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))  # type: ignore[union-attr]
            except RuntimeError:
                pass

    async def _drain(self) -> None:
        """Wait (a little) for closed segments to become durable, so their events precede ``stopped``."""
        pending = [asyncio.wrap_future(args[1]) for name, args in self._outbox if name == "segment_closed"]
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_S)
        self._pump()

    async def _connection(self) -> tuple[float, str, str]:
        """One connection: open, record until it ends; returns (seconds recorded, state, detail)."""
        client = RtspClient(self._url, self._username, self._password, transport=self._transport,
                            request_timeout=self._open_timeout_s)
        self._failure = None
        self._opening = asyncio.ensure_future(self._open(client))
        try:
            session = await self._opening
        except asyncio.CancelledError:
            client.abort()
            self._run = self._video = None
            if self._stopping:
                return 0.0, "stopped", "stopped"
            raise
        except Exception as exc:
            client.abort()
            self._run = self._video = None
            state, detail = classify(exc, opening=True)
            if state == "error" and not isinstance(exc, (OSError, TimeoutError)):
                log.info("camera %s: cannot open the stream: %s", self.camera, detail)
            return 0.0, state, detail
        finally:
            self._opening = None
        return await self._record(session)

    async def _open(self, client: RtspClient) -> _Session:
        async with asyncio.timeout(self._open_timeout_s):
            media = await client.open()
            run = StreamRecorder(camera=self.camera, root=self._root, video=media.video, audio=None,
                                 segment_seconds=self._segment_seconds, emit=self._emit,
                                 last_run_key=self._last_run_key, last_run_end=self._last_run_end)
            self._run = run
            video = self._video = VideoDepacketizer(media.video.codec, self._on_video, media.video.payload_type)
            await client.setup(media.video_control, video.packet, self._rtcp(True))
            audio = None
            if media.audio is not None and media.audio_control is not None:
                unpack = AudioDepacketizer(media.audio, self._on_audio)
                try:
                    await client.setup(media.audio_control, unpack.packet, self._rtcp(False))
                    run.attach_audio(media.audio)
                    audio = unpack
                except RtspStatusError as exc:
                    log.info("camera %s: audio track refused (%s); recording video only", self.camera, exc.status)
            self._last_video = time.monotonic()
            await client.play(media.play_url)
            return _Session(client, media, run, video, audio)

    async def _record(self, session: _Session) -> tuple[float, str, str]:
        client, run = session.client, session.run
        client.closed.add_done_callback(lambda _f: self._wake.set())
        started = time.monotonic()
        watch = SessionWatch(client, session.media.play_url, camera=self.camera, stall_s=self._stall_s,
                             batch_s=READ_BATCH_S, started=started)
        ended: tuple[str, str] | None = None
        while not self._stopping:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._check_s)
            except TimeoutError:
                pass
            if self._stopping:
                break
            if self._failure is not None:
                ended = ("error", f"recording failed: {_reason(self._failure)}")
                break
            ended = watch.check(time.monotonic(), self._last_video)
            if ended is not None:
                break
        await watch.close()  # reads what waits below the batch mark before the files close
        if ended is not None and ended[0] == "error" and self._failure is not None:
            log.error("camera %s: %s", self.camera, ended[1])
            run.abandon(ended[1])
        else:
            try:
                run.finish("shutdown" if ended is None else ended[1])
            except Exception as exc:  # the last fragment could not be written
                log.exception("camera %s: closing the segment failed", self.camera)
                run.abandon(f"recording failed: {_reason(exc)}")
                ended = ("error", f"recording failed: {_reason(exc)}")
        self._run = None
        video = session.video
        self._video = None
        self._losses = (self._losses[0] + video.lost_packets, self._losses[1] + video.dropped_units)
        if video.lost_packets:
            log.info("camera %s: %d RTP packets lost, %d pictures dropped on this connection", self.camera,
                     video.lost_packets, video.dropped_units)
        if client.closed.done():
            client.abort()
        else:
            await client.teardown(session.media.play_url)
        recorded = time.monotonic() - started
        return (recorded, "stopped", "stopped") if ended is None else (recorded, *ended)

    # ------------------------------------------------------------------ units (ingest loop, per picture)
    def _on_video(self, unit: AccessUnit) -> None:
        run = self._run
        if run is None or self._failure is not None:
            return
        self._frames += 1
        self._bytes += len(unit.data)
        recv_us = self._last_us = unit.recv_us
        self._last_video = time.monotonic()
        try:
            run.on_video(unit)
        except Exception as exc:  # writing failed (disk full, I/O error...): the connection is fine, the disk is not
            self._fail(exc)
        if recv_us >= self._win_start_us + _RATE_WINDOW_US:
            self._update_rates(recv_us)

    def _on_audio(self, unit: AudioUnit) -> None:
        run = self._run
        if run is None or self._failure is not None:
            return
        self._bytes += len(unit.data)
        self._last_us = unit.recv_us
        try:
            run.on_audio(unit)
        except Exception as exc:
            self._fail(exc)

    def _rtcp(self, video: bool) -> PacketHandler:
        """A handler for a track's RTCP: sender reports let the recorder line audio up with video exactly."""
        def handle(data: bytes, view: memoryview, start: int, end: int, recv_us: int) -> None:
            run = self._run
            if run is not None:
                report = sender_report(data, start, end)
                if report is not None:
                    run.sender_report(video, report)

        return handle

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            log.error("camera %s: recording failed: %s", self.camera, exc, exc_info=exc)
            self._failure = exc
            self._wake.set()

    def _update_rates(self, now_us: int) -> None:
        span = now_us - self._win_start_us
        if self._win_start_us and span > 0:
            self._fps = (self._frames - self._win_frames) * 1e6 / span
            self._bps = (self._bytes - self._win_bytes) * 8e6 / span
        self._win_start_us, self._win_frames, self._win_bytes = now_us, self._frames, self._bytes


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
