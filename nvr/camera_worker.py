"""Per-camera supervision: resolve stream URIs, then record, or just check, the camera.

A camera with ``record.enabled`` gets a ``Recorder`` once its main stream URI
is known (from config, or asked over ONVIF); the recorder then owns the
connection, its reconnects and the camera's state. A camera that is not
recorded is checked with an RTSP DESCRIBE every interval. A failing camera
never affects another: each worker is its own task and catches everything but
cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from nvr.config import CameraConfig, RecordingConfig
from nvr.rtsp_probe import ProbeResult, probe

if TYPE_CHECKING:
    from nvr.indexer import SegmentIndexer
    from nvr.recorder import Recorder, RecorderStats
    from nvr.recorder_events import ClosedSegment

log = logging.getLogger(__name__)

BACKOFF_START_S = 1.0
BACKOFF_CAP_S = 30.0


@dataclass(frozen=True)
class RecordingContext:
    """What a worker needs to record: where, how, and who indexes the segments."""

    storage_root: Path
    settings: RecordingConfig
    indexer: SegmentIndexer


def backoff_delay(failures: int, rng: random.Random | None = None, cap_s: float = BACKOFF_CAP_S) -> float:
    """Exponential backoff with jitter, capped at ``cap_s`` (30 s by default): 1, 2, 4, ... seconds."""
    ceiling = min(cap_s, BACKOFF_START_S * 2 ** max(0, failures - 1))
    return (rng or random).uniform(ceiling / 2, ceiling)


@dataclass
class CameraStatus:
    """What the UI and hooks know about one camera right now."""

    name: str
    title: str
    state: str = "starting"
    detail: str | None = None
    since: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    main_uri: str | None = None
    sub_uri: str | None = None
    codecs: tuple[str, ...] = ()
    kelurahan: str | None = None
    kecamatan: str | None = None
    failures: int = 0
    recording: bool = False
    snapshot: RecorderStats | None = field(default=None, repr=False)
    """The recorder's counters when it last stopped (``stats`` reads the running recorder's)."""
    live: Callable[[], RecorderStats] | None = field(default=None, repr=False, compare=False)
    """The running recorder's counters, read on demand."""

    @property
    def stats(self) -> RecorderStats | None:
        """The recorder's counters as of now: frames, bytes, bitrate, fps, last packet, segments, losses."""
        return self.live() if self.live is not None else self.snapshot


StateCallback = Callable[[CameraStatus, str], None]


class CameraWorker:
    """Runs one camera's supervision loop as a task."""

    def __init__(self, config: CameraConfig, on_change: StateCallback, check_interval_s: float = 30.0,
                 recording: RecordingContext | None = None):
        self.config = config
        self._recording = recording if config.record.enabled else None
        self.recorder: Recorder | None = None
        self.status = CameraStatus(
            name=config.name, title=config.display_name,
            main_uri=config.stream.main if config.stream else None,
            sub_uri=config.stream.sub if config.stream else None,
            kelurahan=config.kelurahan, kecamatan=config.kecamatan,
        )
        self._on_change = on_change
        self._interval = check_interval_s
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        if not self.config.enabled:
            self._set("disabled", "enabled = false in config")
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"camera:{self.config.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.recorder is not None:
            await self.recorder.stop()
            self.status.snapshot, self.status.live = self.recorder.stats, None
            self.recorder = None

    def poke(self) -> None:
        """Check or reconnect now instead of waiting out the backoff (a UI retry)."""
        if self.recorder is not None:
            self.recorder.retry_now()
        self._wake.set()

    def _set(self, state: str, detail: str | None) -> None:
        old = self.status.state
        if old == state and self.status.detail == detail:
            return
        self.status.state, self.status.detail = state, detail
        if old != state:
            self.status.since = datetime.now(timezone.utc)
            self._on_change(self.status, old)

    async def _run(self) -> None:
        while True:
            try:
                result = await self.check()
                if result is None:
                    return  # the recorder has taken over
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # isolate: one camera's bug never ends the others
                log.exception("camera %s: check crashed", self.config.name)
                result = ProbeResult("error", f"{type(exc).__name__}: {exc}")
            self.status.codecs = result.codecs or self.status.codecs
            self._set(result.state, result.detail)
            if result.state == "online":
                self.status.failures = 0
                delay = self._interval
            else:
                self.status.failures += 1
                delay = backoff_delay(self.status.failures)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    async def check(self) -> ProbeResult | None:
        """Resolve the main stream URI (via ONVIF if needed), then start recording or DESCRIBE it.

        Returns None once a recorder runs; otherwise the probe's result.
        """
        if self.status.main_uri is None:
            resolved = await self._resolve_onvif()
            if resolved is not None:
                return resolved
        user, password = self.config.rtsp_credentials()
        assert self.status.main_uri is not None
        if self._recording is not None:
            self._start_recorder(self._recording, user, password)
            return None
        return await probe(self.status.main_uri, user, password)

    def _start_recorder(self, ctx: RecordingContext, user: str | None, password: str | None) -> None:
        from nvr.recorder import Recorder

        assert self.status.main_uri is not None
        transport = self.config.stream.transport if self.config.stream else "tcp"
        self.recorder = Recorder(
            camera=self.config.name, url=self.status.main_uri, username=user, password=password,
            transport=transport, storage_root=ctx.storage_root, segment_seconds=self.config.record.segment_seconds,
            stall_timeout_s=ctx.settings.stall_timeout_s, reconnect_max_s=ctx.settings.reconnect_max_s,
            listener=self, loop=asyncio.get_running_loop(),
        )
        self.status.recording = True
        recorder = self.recorder
        self.status.live = lambda: recorder.stats
        self.recorder.start()

    # -- RecorderListener: called on the event loop by the recorder ----------

    def state_changed(self, camera: str, state: str, detail: str | None) -> None:
        self._set(state, detail)

    def segment_closed(self, segment: ClosedSegment) -> None:
        assert self._recording is not None
        self._recording.indexer.segment_closed(segment)

    def run_started(self, camera: str, run_key: int, started_at_us: int) -> None:
        assert self._recording is not None
        self._recording.indexer.run_started(camera, run_key, started_at_us)

    def run_ended(self, camera: str, run_key: int, ended_at_us: int, reason: str) -> None:
        assert self._recording is not None
        self._recording.indexer.run_ended(camera, run_key, ended_at_us, reason)

    async def _resolve_onvif(self) -> ProbeResult | None:
        from nvr.onvif_client import query_device

        onvif = self.config.onvif
        assert onvif is not None, "config validation guarantees stream.main or onvif"
        password = onvif.password.get_secret_value() if onvif.password else ""
        device = await query_device(f"{onvif.host}:{onvif.port}", onvif.username or "", password, timeout=10.0)
        if device.state != "ok" or not device.main_uri:
            return ProbeResult(device.state if device.state != "ok" else "error",
                               device.error or "ONVIF gave no stream URI")
        self.status.main_uri, self.status.sub_uri = device.main_uri, device.sub_uri
        return None
