"""The lpr service: per camera a latest-wins frame slot, worker threads that read plates, sightings to the catalog."""

from __future__ import annotations

import asyncio
import io
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from nvr.clock import now_us
from nvr.detection import AnalysedFrame
from nvr.storage.plates_catalog import NewSighting

from .alerts import AlertRecorder, Crop
from .config import LprConfig
from .ocr_models import OcrModels, load_models
from .pipeline import CameraPlates
from .reader import PlateReader, ReaderStats
from .vote import Sighting

if TYPE_CHECKING:
    from nvr.runtime import Runtime

log = logging.getLogger(__name__)

TICK_S = 0.5
"""Workers close the groups of quiet cameras this often."""
PRUNE_EVERY_S = 3600.0


def crop_of(sighting: Sighting, quality: int = 90) -> Crop:
    """The sighting's best plate crop as JPEG."""
    image = sighting.best.crop
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(out, format="JPEG", quality=quality)
    return Crop(out.getvalue(), image.shape[1], image.shape[0], sighting.best.time_us)


@dataclass
class CameraSlot:
    """One camera: the newest frame waiting, its pipeline, and counters."""

    name: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Guards ``frame`` and ``queued`` only: held for a moment, also by the event loop."""
    busy: threading.Lock = field(default_factory=threading.Lock)
    """Held while a worker runs the camera's pipeline."""
    frame: AnalysedFrame | None = None
    queued: bool = False
    pipeline: CameraPlates | None = None
    config: LprConfig | None = None
    frames: int = 0
    dropped: int = 0
    processed: int = 0
    sightings: int = 0
    last_error: str | None = None


class LprService:
    """Reads plates off the event loop; ``submit`` (from the loop) never blocks and drops stale frames."""

    def __init__(self, runtime: Runtime, cfg: LprConfig, models: OcrModels) -> None:
        self.runtime, self.models = runtime, models
        self.cfg = cfg
        self.slots: dict[str, CameraSlot] = {}
        self.alerts = AlertRecorder(runtime.catalog, self._notify)
        self.readers: list[PlateReader] = []
        self._ready: queue.Queue[str | None] = queue.Queue()
        self._loop = asyncio.get_running_loop()
        self._stop = threading.Event()
        self._pending: set[Future] = set()
        self._threads = [threading.Thread(target=self._work, args=(i,), name=f"lpr-{i}", daemon=True)
                         for i in range(cfg.workers)]
        self._last_prune = 0.0

    @classmethod
    async def start(cls, runtime: Runtime, cfg: LprConfig) -> LprService:
        """Load both models (in a thread; PluginError names the file and the reason) and start the workers."""
        models = await asyncio.to_thread(load_models, cfg.device, cfg.det_model, cfg.rec_model, cfg.threads)
        service = cls(runtime, cfg, models)
        known = {c.name for c in runtime.config.cameras}
        for name in cfg.cameras:
            if name not in known:
                log.warning("[plugins.lpr] cameras: no camera named %r", name)
        for thread in service._threads:
            thread.start()
        return service

    def config(self) -> LprConfig:
        cfg = self.runtime.plugin_config("lpr")
        return cfg if isinstance(cfg, LprConfig) else self.cfg

    def _notify(self, hook: str, **kwargs: Any) -> None:
        self.runtime.plugins.notify(hook, runtime=self.runtime, **kwargs)

    # -- event loop side -----------------------------------------------------

    def submit(self, frame: AnalysedFrame) -> None:
        """Hand a frame of a plate camera to the workers; a frame still waiting is replaced (and counted)."""
        cfg = self.config()
        if frame.camera not in cfg.cameras:
            return
        slot = self.slots.get(frame.camera)
        if slot is None:
            slot = self.slots[frame.camera] = CameraSlot(frame.camera)
        with slot.lock:
            slot.frames += 1
            if slot.frame is not None:
                slot.dropped += 1
            slot.frame = frame
            wake = not slot.queued
            slot.queued = True
        if wake:
            self._ready.put(frame.camera)

    async def stop(self) -> None:
        """Stop the workers, vote the groups still open and store them."""
        self._stop.set()
        for _ in self._threads:
            self._ready.put(None)
        await asyncio.gather(*(asyncio.to_thread(t.join, 10.0) for t in self._threads))
        for slot in list(self.slots.values()):
            if slot.pipeline is not None:
                await self._store(slot.name, slot.pipeline.flush(), None)
        if self._pending:
            await asyncio.wait([asyncio.wrap_future(f) for f in self._pending], timeout=5.0)

    # -- worker side -----------------------------------------------------------

    def _work(self, index: int) -> None:
        reader = self._reader()
        while not self._stop.is_set():
            try:
                name = self._ready.get(timeout=TICK_S)
            except queue.Empty:
                self._tick(reader)
                continue
            if name is None:
                return
            slot = self.slots[name]
            with slot.lock:
                frame, slot.frame, slot.queued = slot.frame, None, False
            if frame is not None:
                self._process(slot, frame, reader)

    def _reader(self) -> PlateReader:
        cfg = self.cfg
        reader = PlateReader(self.models, det_scale=cfg.det_scale, det_max_side=cfg.det_max_side)
        self.readers.append(reader)
        return reader

    def _pipeline(self, slot: CameraSlot, reader: PlateReader) -> CameraPlates:
        cfg = self.config()
        if slot.pipeline is None or slot.config != cfg:
            if slot.pipeline is not None:
                self._hand_over(slot.name, slot.pipeline.flush())
            fps = next((c.detect.fps for c in self.runtime.config.cameras if c.name == slot.name), 1.0)
            end_after_us = round(max(cfg.end_after_s, 2.5 / fps) * 1_000_000)
            slot.pipeline = CameraPlates(reader, mode=cfg.regions, vehicle_labels=cfg.vehicle_labels,
                                         end_after_us=end_after_us, max_open_us=round(cfg.max_sighting_s * 1e6),
                                         min_reads=cfg.min_reads)
            slot.config = cfg
        slot.pipeline.reader = reader  # whichever worker runs it, with that worker's inference requests
        return slot.pipeline

    def _process(self, slot: CameraSlot, frame: AnalysedFrame, reader: PlateReader) -> None:
        with slot.busy:
            closed = self._run(slot, frame, reader)
        self._hand_over(slot.name, closed)

    def _run(self, slot: CameraSlot, frame: AnalysedFrame, reader: PlateReader) -> list[Sighting]:
        try:
            pipeline = self._pipeline(slot, reader)
            _, closed = pipeline.process(frame)
            slot.processed += 1
            slot.last_error = None
            return closed
        except Exception as exc:  # noqa: BLE001 - a bad frame never stops plate reading
            slot.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("camera %s: plate reading failed", slot.name)
            return []

    def _tick(self, reader: PlateReader) -> None:
        now = now_us(self.runtime.clock)  # the clock the sampler stamps frames with
        for slot in list(self.slots.values()):
            if slot.pipeline is None or not slot.busy.acquire(blocking=False):
                continue
            try:
                closed = slot.pipeline.tick(now)
            finally:
                slot.busy.release()
            self._hand_over(slot.name, closed)
        if time.monotonic() - self._last_prune > PRUNE_EVERY_S:
            self._last_prune = time.monotonic()
            self._submit(self._prune())

    def _hand_over(self, camera: str, sightings: list[Sighting]) -> None:
        """From a worker: encode the crops here, store on the event loop."""
        cfg = self.config()
        kept = [s for s in sightings if s.confidence >= cfg.min_confidence]
        if kept:
            self._submit(self._store(camera, kept, [crop_of(s, cfg.crop_quality) for s in kept]))

    def _submit(self, coro: Any) -> None:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    async def _store(self, camera: str, sightings: list[Sighting], crops: list[Crop] | None) -> None:
        cfg = self.config()
        settings = self.runtime.config.analysis
        pre, post = round(settings.pre_roll_s * 1e6), round(settings.post_roll_s * 1e6)
        slot = self.slots.get(camera)
        for i, s in enumerate(sightings):
            if s.confidence < cfg.min_confidence:
                continue
            crop = crops[i] if crops is not None else crop_of(s, cfg.crop_quality)
            new = NewSighting(
                camera=camera, plate=s.plate.text, plate_key=s.plate.key, confidence=s.confidence, reads=s.reads,
                agreement=s.agreement, first_us=s.first_us, last_us=s.last_us, best_us=s.best.time_us,
                footage_start_us=s.first_us - pre, footage_end_us=s.last_us + post, track_id=s.track_id,
                box=s.best.norm_box, alternatives=s.alternatives)
            try:
                self._notify("plate_sighted", sighting=await self.alerts.store(new, crop, cfg, pre, post))
            except Exception as exc:  # noqa: BLE001 - a catalog error loses this sighting, not the service
                if slot is not None:
                    slot.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("camera %s: plate sighting %s not stored: %s", camera, s.plate.text, exc)
                continue
            if slot is not None:
                slot.sightings += 1

    async def _prune(self) -> None:
        days = self.config().keep_days
        if days > 0:
            before = now_us(self.runtime.clock) - round(days * 86400e6)
            removed = await self.runtime.catalog.delete_plate_sightings_before(before)
            if removed:
                log.info("deleted %d plate sightings older than %g days", removed, days)

    # -- status ------------------------------------------------------------------

    def stats(self) -> ReaderStats:
        total = ReaderStats()
        for r in self.readers:
            for name in ("frames", "regions", "lines", "reads", "rejected", "static", "det_s", "refine_s", "rec_s"):
                setattr(total, name, getattr(total, name) + getattr(r.stats, name))
        return total

    def status(self) -> dict[str, Any]:
        stats = self.stats()
        return {
            "cameras": {s.name: {"frames": s.frames, "dropped": s.dropped, "processed": s.processed,
                                 "sightings": s.sightings, "last_error": s.last_error} for s in self.slots.values()},
            "reads": stats.reads, "lines": stats.lines, "rejected": stats.rejected,
            "recognition_ms": round(stats.rec_s / stats.lines * 1000, 1) if stats.lines else None,
            **self.alerts.status(),
        }

