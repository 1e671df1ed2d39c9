"""Records one camera's main stream to fragmented-MP4 segments (stream copy) in its own thread, reconnecting forever."""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import av

from nvr.camera_worker import backoff_delay
from nvr.recorder_events import STATES, RecorderListener, RecorderStats
from nvr.recorder_run import StreamRecorder
from nvr.segment_writer import audio_supported

log = logging.getLogger(__name__)

IO_TIMEOUT_S = 2.0
"""Socket-level read timeout (FFmpeg's RTSP ``timeout``): how often a silent connection hands control back."""
STOP_GRACE_S = 2.5
"""How long ``stop()`` waits for the thread before reporting ``stopped`` anyway."""
HEALTHY_AFTER_S = 30.0
"""A connection that recorded this long resets the reconnect backoff."""
_RATE_WINDOW_US = 2_000_000
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")


def credential_url(url: str, username: str | None, password: str | None) -> str:
    """``url`` with percent-encoded ``user:password@`` (replacing any userinfo it had)."""
    if username is None and password is None:
        return url
    parts = urlsplit(url)
    userinfo = quote(username or "", safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def scrub(text: str, *secrets: str | None) -> str:
    """Remove URL userinfo and any of ``secrets`` (raw or percent-encoded) from ``text``."""
    text = _USERINFO.sub(r"\1", text)
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, "***")
    return text


def classify(exc: BaseException, *, opening: bool, elapsed_s: float, open_timeout_s: float) -> tuple[str, str]:
    """Map a PyAV/OS exception to ``(state, detail)``; the detail never contains the URL."""
    if isinstance(exc, av.error.HTTPUnauthorizedError):
        return "auth_failed", "401 Unauthorized: wrong user name or password"
    if isinstance(exc, av.error.HTTPForbiddenError):
        return "auth_failed", "403 Forbidden: this user may not open the stream"
    if isinstance(exc, av.error.HTTPNotFoundError):
        return "not_found", "404 Not Found: no stream at this path"
    if isinstance(exc, ConnectionRefusedError):
        return "offline", "connection refused"
    if isinstance(exc, (TimeoutError, av.error.ExitError)):
        return "offline", "timed out: no answer" if opening else "timed out"
    code = getattr(exc, "errno", None)
    if code in (errno.EHOSTUNREACH, errno.EHOSTDOWN):
        return "offline", "host unreachable"
    if code == errno.ENETUNREACH:
        return "offline", "network unreachable"
    if code in (errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE):
        return "offline", "connection reset"
    if opening and isinstance(exc, av.error.InvalidDataError) and elapsed_s >= open_timeout_s - 0.1:
        return "offline", "timed out: no answer"
    if isinstance(exc, av.error.HTTPServerError):
        return "error", "the camera answered with a server error (5xx)"
    if isinstance(exc, av.error.FFmpegError):
        return "error", f"{exc.strerror or type(exc).__name__}"
    return "error", f"{type(exc).__name__}: {exc}"


class _Ended(Exception):
    """A connection ended; carries the state to report."""

    def __init__(self, state: str, detail: str) -> None:
        super().__init__(detail)
        self.state, self.detail = state, detail


class Recorder:
    """One camera's recorder. ``start()`` from the event loop; ``await stop()`` returns within ~3 s."""

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
        self._io_timeout_s = min(io_timeout_s, stall_timeout_s)
        self._open_timeout_s = open_timeout_s or max(stall_timeout_s, 5.0)
        self._healthy_s = healthy_after_s
        self._stop_grace_s = stop_grace_s
        self._listener, self._loop = listener, loop
        self._thread: threading.Thread | None = None
        self._done: asyncio.Future[None] | None = None
        self._stopping = False
        self._wake = threading.Event()
        self._state, self._detail = "stopped", None
        self._frames = self._bytes = self._segments = self._reconnects = 0
        self._last_us: int | None = None
        self._win_start_us = 0
        self._win_frames = self._win_bytes = 0
        self._fps = self._bps = 0.0
        self._last_run_key = 0
        self._last_run_end = 0

    # ------------------------------------------------------------------ public
    def start(self) -> None:
        """Start the recording thread (call from the event loop)."""
        if self._thread is not None:
            raise RuntimeError(f"recorder {self.camera} already started")
        self._done = self._loop.create_future()
        self._thread = threading.Thread(target=self._main, name=f"rec:{self.camera}", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop recording: close the open segment (durably) and the connection; idempotent."""
        self._stopping = True
        self._wake.set()
        if self._done is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._done), self._stop_grace_s)
        except TimeoutError:
            log.warning("camera %s: recorder thread still busy after %.1f s; reporting stopped", self.camera,
                        self._stop_grace_s)
            self._state, self._detail = "stopped", "stop timed out; the thread ends on its own"
            self._deliver("state_changed", (self.camera, "stopped", self._detail))

    def retry_now(self) -> None:
        """Cut the current backoff wait short (an operator pressed retry); no effect while connected."""
        self._wake.set()

    @property
    def state(self) -> str:
        """Current state (one of ``recorder_events.STATES``)."""
        return self._state

    @property
    def stats(self) -> RecorderStats:
        """A snapshot of the counters."""
        return RecorderStats(frames=self._frames, bytes=self._bytes, bitrate_bps=self._bps, fps=self._fps,
                             last_packet_at=self._last_us, segments=self._segments, reconnects=self._reconnects,
                             state=self._state, detail=self._detail)

    # ------------------------------------------------------------------ events (thread -> loop)
    def _emit(self, name: str, *args: Any) -> None:
        if name == "segment_closed":
            self._segments += 1
        elif name == "run_started":
            self._last_run_key = args[0]
            self._set_state("recording", None)
        elif name == "run_ended":
            self._last_run_end = args[1]
        try:
            self._loop.call_soon_threadsafe(self._deliver, name, (self.camera, *args) if name != "segment_closed"
                                            else args)
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

    # ------------------------------------------------------------------ thread
    def _main(self) -> None:
        failures = 0
        try:
            while not self._stopping:
                started = time.monotonic()
                if self._root.is_dir():
                    self._set_state("connecting", None)
                    recorded_s, state, detail = self._connection()
                else:  # never create it: an unmounted disk must not fill the system disk instead
                    recorded_s, state, detail = 0.0, "error", f"storage root {self._root} is not a folder"
                if self._stopping:
                    break
                failures = 1 if recorded_s >= self._healthy_s else failures + 1
                self._set_state(state, detail)
                self._wake.wait(backoff_delay(failures, cap_s=self._reconnect_max_s))
                if not self._stopping:
                    self._wake.clear()  # a retry_now() ended the wait early
                self._reconnects += 1
                log.debug("camera %s: reconnecting after %.1f s", self.camera, time.monotonic() - started)
        except BaseException as exc:  # the thread must report, whatever happened
            log.exception("camera %s: recorder thread crashed", self.camera)
            self._set_state("error", f"recorder crashed: {type(exc).__name__}")
        finally:
            self._set_state("stopped", None)
            done = self._done
            try:
                self._loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))  # type: ignore[union-attr]
            except RuntimeError:
                pass

    def _connection(self) -> tuple[float, str, str]:
        """One connection: open, record until it ends; returns (seconds recorded, state, detail)."""
        options = {"rtsp_transport": self._transport, "timeout": str(int(self._io_timeout_s * 1_000_000))}
        if self._transport == "udp":
            options["buffer_size"] = str(4 << 20)
        opened = time.monotonic()
        try:
            container = av.open(credential_url(self._url, self._username, self._password), options=options,
                                timeout=(self._open_timeout_s, self._stall_s))
        except Exception as exc:
            state, detail = classify(exc, opening=True, elapsed_s=time.monotonic() - opened,
                                     open_timeout_s=min(self._open_timeout_s, self._io_timeout_s))
            return 0.0, state, detail
        recording_since = time.monotonic()
        try:
            if not container.streams.video:
                return 0.0, "error", "the stream has no video track"
            return self._record(container)
        finally:
            try:
                container.close()
            except Exception as exc:
                log.debug("camera %s: closing the connection: %s", self.camera, exc)
            log.debug("camera %s: connection closed after %.1f s", self.camera, time.monotonic() - recording_since)

    def _record(self, container: Any) -> tuple[float, str, str]:
        video = container.streams.video[0]
        audio = next((s for s in container.streams.audio if audio_supported(s)), None)
        streams = [video] if audio is None else [video, audio]
        vindex = video.index
        run = StreamRecorder(camera=self.camera, root=self._root, video=video, audio=audio,
                             segment_seconds=self._segment_seconds, emit=self._emit,
                             last_run_key=self._last_run_key, last_run_end=self._last_run_end)
        started = time.monotonic()
        last_video = last_any = started
        quiet_s = self._io_timeout_s * 0.9
        stall_s = self._stall_s
        ended: _Ended | None = None
        try:
            while ended is None and not self._stopping:
                packets = container.demux(streams)
                while not self._stopping:
                    try:
                        packet = next(packets)
                    except StopIteration:
                        ended = _Ended("offline", "connection closed by the camera")
                        break
                    except (TimeoutError, av.error.ExitError) as exc:
                        # TimeoutError: the socket was silent for io_timeout_s; ExitError: PyAV's read
                        # timeout (stall_timeout_s) passed without a whole packet.
                        if isinstance(exc, av.error.ExitError) or time.monotonic() - last_video >= stall_s:
                            ended = _Ended("stalled", f"no video for {stall_s:g} s")
                        break  # a fresh demux generator continues the same connection
                    except (av.error.FFmpegError, OSError) as exc:
                        ended = _Ended(*classify(exc, opening=False, elapsed_s=0.0, open_timeout_s=0.0))
                        break
                    size = packet.size
                    if not size:
                        continue  # the flush packets PyAV yields at the end of the stream
                    now_us = time.time_ns() // 1000
                    mono = time.monotonic()
                    self._bytes += size
                    self._last_us = now_us
                    if packet.stream_index == vindex:
                        self._frames += 1
                        if mono - last_any < quiet_s:
                            # Not after a silence: when the socket goes quiet the demuxer hands over the
                            # frame it was holding, which says nothing about the camera being alive.
                            last_video = mono
                        run.on_video(packet, now_us)
                    else:
                        run.on_audio(packet, now_us)
                        if mono - last_video >= stall_s:
                            ended = _Ended("stalled", f"no video for {stall_s:g} s")
                            break
                    last_any = mono
                    if now_us >= self._win_start_us + _RATE_WINDOW_US:
                        self._update_rates(now_us)
                packets.close()
            run.finish("shutdown" if ended is None else ended.detail)
        except Exception as exc:  # writing failed (disk full, I/O error...): the connection is fine, the disk is not
            log.exception("camera %s: recording failed", self.camera)
            detail = f"recording failed: {getattr(exc, 'strerror', None) or type(exc).__name__}"
            run.abandon(detail)
            ended = _Ended("error", detail)
        recorded = time.monotonic() - started
        if ended is None:
            return recorded, "stopped", "stopped"
        return recorded, ended.state, ended.detail

    def _update_rates(self, now_us: int) -> None:
        span = now_us - self._win_start_us
        if self._win_start_us and span > 0:
            self._fps = (self._frames - self._win_frames) * 1e6 / span
            self._bps = (self._bytes - self._win_bytes) * 8e6 / span
        self._win_start_us, self._win_frames, self._win_bytes = now_us, self._frames, self._bytes
