"""The analysis service: per camera, sampled frames -> motion gate -> shared detector -> tracker -> rules -> events."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nvr.config import AnalysisConfig, CameraConfig
from nvr.detection import AnalysedFrame, Detection, Detector, TrackedBox
from nvr.errors import PluginError
from nvr.events import EventRecorder
from nvr.motion import MotionDetector
from nvr.rules import RuleEngine
from nvr.sampler import FrameSampler, SampledFrame
from nvr.tracker import Tracker
from nvr.zones import Zone, zones_of

if TYPE_CHECKING:
    from nvr.runtime import Runtime

log = logging.getLogger(__name__)

HOUSEKEEPING_S = 1.0
"""How often tracks and rules of cameras whose frames stopped are ended."""
URL_POLL_S = 1.0
"""How often a camera found through ONVIF is checked for its resolved stream URL."""


def load_detector(runtime: Runtime) -> Detector:
    """Build the detector ``[analysis] detector`` names, from the factories plugins register. Blocking."""
    factories: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for plugin, offered in runtime.plugins.call_sync("register_detectors", runtime=runtime):
        for name, factory in (offered or {}).items():
            if name in factories:
                raise PluginError(f"detector {name!r} is offered by both {owners[name]} and {plugin}")
            factories[name], owners[name] = factory, plugin
    name = runtime.config.analysis.detector
    if name not in factories:
        known = ", ".join(sorted(factories)) or "none"
        raise PluginError(f"[analysis] detector = {name!r}: no installed plugin offers it (known: {known})")
    detector = factories[name]()
    if not isinstance(detector, Detector):
        raise PluginError(f"detector {name!r} from {owners[name]} does not implement nvr.detection.Detector")
    return detector


@dataclass
class AnalysisStats:
    """Per-camera counters shown in the UI and read by the benchmark."""

    frames: int = 0
    dropped: int = 0
    analysed: int = 0
    detector_runs: int = 0
    skipped_still: int = 0
    detections: int = 0
    last_detections: list[Detection] = field(default_factory=list)
    last_frame_us: int | None = None
    last_error: str | None = None


class CameraAnalysis:
    """One camera's pipeline; frames arrive from the sampler thread, the newest replacing an unread one."""

    def __init__(self, service: AnalysisService, camera: CameraConfig) -> None:
        self.service, self.config = service, camera
        self.name = camera.name
        runtime = service.runtime
        settings = runtime.config.analysis
        detect = camera.detect
        self.zones = [Zone.from_config(z) for z in detect.zones]
        self.motion = MotionDetector(threshold=settings.motion_threshold, min_fraction=settings.motion_min_fraction,
                                     masks=detect.motion_masks)
        end_after_us = round(max(settings.end_after_s, 2.5 / detect.fps) * 1_000_000)
        self.tracker = Tracker(max_age_us=end_after_us)
        rules = [r for r in settings.rules if not r.cameras or self.name in r.cameras]
        self.rules = RuleEngine(rules, grace_us=end_after_us)
        self.events = EventRecorder(camera=self.name, catalog=runtime.catalog, analysis=settings, detect=detect,
                                    notify=self._notify)
        self.stats = AnalysisStats()
        self.sampler: FrameSampler | None = None
        self.latest: SampledFrame | None = None
        self._slot: SampledFrame | None = None
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task | None = None
        self._last_detect_us = 0

    def _notify(self, hook: str, **kwargs: Any) -> None:
        self.service.runtime.plugins.notify(hook, runtime=self.service.runtime, **kwargs)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"analysis-{self.name}")

    async def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.events.end_tracks(list(self.tracker.tracks.values()))
        await self.events.rule_changes(self.rules.close())

    def _deliver(self, frame: SampledFrame) -> None:
        """From the sampler thread: keep only the newest frame."""
        self._loop.call_soon_threadsafe(self._put, frame)

    def _put(self, frame: SampledFrame) -> None:
        self.stats.frames += 1
        if self._slot is not None:
            self.stats.dropped += 1
        self._slot = frame
        self._wake.set()

    async def _url(self) -> str:
        stream = self.config.stream
        want = self.config.detect.stream
        while True:
            sub = stream.sub if stream else None
            main = stream.main if stream else None
            status = self.service.runtime.cameras.status(self.name) if self.service.runtime.cameras else None
            if status is not None:
                sub, main = sub or status.sub_uri, main or status.main_uri
            url = main if want == "main" else (sub or (main if want == "auto" else None))
            if url:
                return url
            await asyncio.sleep(URL_POLL_S)

    async def _run(self) -> None:
        url = await self._url()
        user, password = self.config.rtsp_credentials()
        self.sampler = FrameSampler(camera=self.name, url=url, username=user, password=password,
                                    transport=self.config.stream.transport if self.config.stream else "tcp",
                                    fps=self.config.detect.fps, deliver=self._deliver,
                                    clock=self.service.runtime.clock,
                                    reconnect_max_s=self.service.runtime.config.recording.reconnect_max_s)
        self.sampler.start()
        while True:
            await self._wake.wait()
            self._wake.clear()
            frame, self._slot = self._slot, None
            if frame is None:
                continue
            try:
                await self.process(frame)
            except PluginError as exc:
                self.stats.last_error = str(exc)
                log.warning("camera %s: analysis failed: %s", self.name, exc)
            except Exception as exc:  # noqa: BLE001 - a bad frame or detector error never stops the camera
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("camera %s: analysis failed", self.name)

    async def process(self, frame: SampledFrame) -> None:
        """Analyse one frame: the motion gate, the detector when needed, tracks, rules and events."""
        self.stats.analysed += 1
        self.stats.last_frame_us = frame.time_us
        self.latest = frame  # the dashboard's thumbnail of an analysed camera comes from here
        motion = self.motion.update(frame.grey)
        refresh_us = round(self.service.runtime.config.analysis.refresh_s * 1_000_000)
        due = refresh_us > 0 and frame.time_us - self._last_detect_us >= refresh_us
        if not (motion.moving or self.tracker.tracks or due):
            self.stats.skipped_still += 1
            return
        self._last_detect_us = frame.time_us
        raw = await self.service.detect(frame.rgb)
        self.stats.detector_runs += 1
        detect = self.config.detect
        wanted = set(detect.objects) | {label for r in self.rules.rules for label in r.labels}
        kept = [d for d in raw if d.score >= detect.min_score and d.label in wanted]
        self.stats.detections += len(kept)
        self.stats.last_detections = kept
        zones = [zones_of(d, self.zones) for d in kept]
        update = self.tracker.update(frame.time_us, kept, zones)
        seen = [t for t, _ in update.continued] + update.started
        changes = self.rules.evaluate(frame.time_us, seen)
        await self.events.on_frame(frame.time_us, frame.rgb, update, changes)
        tracks = tuple(TrackedBox(t.id, t.label, t.score, t.box) for t in seen)
        self._notify("frame_detections", camera=self.name, time_us=frame.time_us, detections=kept,
                     frame=AnalysedFrame(self.name, frame.time_us, frame.rgb, motion.box, tracks))

    async def housekeeping(self, now_us: int) -> None:
        """End tracks and rules when frames stopped coming (camera offline or sampler reconnecting)."""
        last = self.stats.last_frame_us
        if last is None or now_us - last < self.tracker.max_age_us:
            return
        await self.events.end_tracks(self.tracker.expire(now_us))
        await self.events.rule_changes(self.rules.expire(now_us))

    def status(self) -> dict[str, Any]:
        s, sampler = self.stats, self.sampler.stats if self.sampler else None
        return {
            "state": sampler.state if sampler else "waiting for a stream URL",
            "detail": sampler.detail if sampler else None,
            "keyframes_only": sampler.keyframes_only if sampler else None,
            "decoder_dropped": sampler.dropped if sampler else 0, "decode_errors": sampler.errors if sampler else 0,
            "frames": s.frames, "dropped": s.dropped, "analysed": s.analysed, "detector_runs": s.detector_runs,
            "skipped_still": s.skipped_still, "detections": s.detections, "open_events": len(self.events.open_events),
            "event_errors": self.events.errors, "last_error": s.last_error,
        }


class AnalysisService:
    """Starts one ``CameraAnalysis`` per camera with ``detect.enabled`` and shares one detector between them."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.detector: Detector | None = None
        self.cameras: dict[str, CameraAnalysis] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._housekeeper: asyncio.Task | None = None
        self.detect_seconds = 0.0
        self._settings: AnalysisConfig | None = None

    def wanted(self) -> list[CameraConfig]:
        return [c for c in self.runtime.config.cameras if c.enabled and c.detect.enabled]

    async def start(self) -> None:
        """Load the detector (a bad model stops start-up here) and start every analysed camera."""
        await self.runtime.catalog.end_ongoing_events(int(time.time() * 1_000_000))
        await self.apply(self.runtime.config.cameras)
        self._housekeeper = asyncio.create_task(self._housekeeping(), name="analysis-housekeeping")

    async def _ensure_detector(self) -> None:
        if self.detector is not None:
            return
        self.detector = await asyncio.to_thread(load_detector, self.runtime)
        workers = max(1, int(getattr(self.detector, "concurrency", 1)))
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="detect")
        self._slots = asyncio.Semaphore(workers)
        log.info("detector %s ready (%d parallel requests)", self.detector.name, workers)

    async def detect(self, rgb: Any) -> list[Detection]:
        assert self.detector is not None and self._pool is not None and self._slots is not None
        async with self._slots:
            started = time.perf_counter()
            try:
                return await asyncio.get_running_loop().run_in_executor(self._pool, self.detector.detect, rgb)
            finally:
                self.detect_seconds += time.perf_counter() - started

    async def apply(self, cameras: list[CameraConfig]) -> None:
        """Start, restart (changed config) and stop camera pipelines to match ``cameras``."""
        wanted = {c.name: c for c in cameras if c.enabled and c.detect.enabled}
        settings = self.runtime.config.analysis
        if self._settings is not None and settings != self._settings:
            if settings.detector != self._settings.detector and self.detector is not None:
                log.warning("[analysis] detector changed: takes effect after a restart")
            for name in list(self.cameras):  # rules, motion and event settings are read when a camera starts
                await self.cameras.pop(name).stop()
        self._settings = settings
        if wanted:
            await self._ensure_detector()
        for name in list(self.cameras):
            if name not in wanted or wanted[name] != self.cameras[name].config:
                await self.cameras.pop(name).stop()
        for name, cfg in wanted.items():
            if name not in self.cameras:
                pipeline = self.cameras[name] = CameraAnalysis(self, cfg)
                pipeline.start()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            now = int(time.time() * 1_000_000)
            for pipeline in list(self.cameras.values()):
                try:
                    await pipeline.housekeeping(now)
                except Exception:  # noqa: BLE001
                    log.exception("camera %s: analysis housekeeping failed", pipeline.name)

    async def stop(self) -> None:
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            await asyncio.gather(self._housekeeper, return_exceptions=True)
        await asyncio.gather(*(p.stop() for p in self.cameras.values()), return_exceptions=True)
        for pipeline in self.cameras.values():
            if pipeline.sampler is not None:
                await asyncio.to_thread(pipeline.sampler.stop, 6.0)
        self.cameras.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self.detector is not None:
            await asyncio.to_thread(self.detector.close)
            self.detector = None
