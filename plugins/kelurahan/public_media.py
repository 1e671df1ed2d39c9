"""What public viewers receive: blurred JPEG snapshots of a live camera and blurred re-encoded clips.

Faces (and optionally plates) are blurred here, on the server, before any byte leaves for a public viewer; if
the blur cannot run, nothing is served (fail closed). Clips are a re-encoded public derivative cached beside
the storage root; the recorded footage is only read.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
from PIL import Image

from nvr.errors import PluginError
from nvr.thumbnails import ThumbnailUnavailable, grab_keyframe

from .blur import Box, FaceDetector, blur_boxes
from .config import KelurahanConfig

if TYPE_CHECKING:
    from nvr.config import CameraConfig
    from nvr.runtime import Runtime

log = logging.getLogger(__name__)

MAX_PARALLEL_FRAMES = 2
"""Public snapshots made at once (each is a stream grab or an analysed frame, then one CenterFace run)."""
DETECT_EVERY_S = 0.2
"""In clips, faces are looked for at most this often; boxes found hold until the next look."""


class ClipPending(Exception):
    """A shared clip is still being blurred and encoded."""


class BlurUnavailable(Exception):
    """The privacy blur cannot run, so nothing may be shown to public viewers."""


@dataclass
class _Frame:
    jpeg: bytes
    at: float


class Privacy:
    """The face detector (loaded once, lazily, in a thread) and the blur of one RGB frame."""

    def __init__(self, config: KelurahanConfig) -> None:
        self.config = config
        self._detector: FaceDetector | None = None
        self._plates: object | None = None
        self._error: str | None = None
        self._lock = asyncio.Lock()

    async def ready(self) -> None:
        """Load the models once; raise ``BlurUnavailable`` (and show nothing) when a wanted one cannot load."""
        async with self._lock:
            if self._error is None:
                try:
                    if self.config.blur_faces and self._detector is None:
                        model = Path(self.config.face_model) if self.config.face_model else None
                        self._detector = await asyncio.to_thread(FaceDetector, model, self.config.face_threshold)
                    if self.config.blur_plates and self._plates is None:
                        self._plates = await asyncio.to_thread(load_plate_detector)
                except PluginError as exc:
                    self._error = str(exc)
                    log.error("kelurahan: public views are off: %s", exc)
        if self._error is not None:
            raise BlurUnavailable(self._error)

    def boxes(self, rgb: np.ndarray) -> list[Box]:
        """Regions to blur in a frame (blocking)."""
        found: list[Box] = []
        if self.config.blur_faces:
            assert self._detector is not None
            found += [box for box, _ in self._detector.detect(rgb)]
        if self.config.blur_plates and self._plates is not None:
            found += [tuple(int(v) for v in t.box) for t in self._plates.detect(rgb)]  # type: ignore[attr-defined]
        return found

    def blur(self, rgb: np.ndarray) -> np.ndarray:
        return blur_boxes(rgb, self.boxes(rgb))


def load_plate_detector() -> object:
    """The lpr plugin's text detector (PP-OCR DB model from the rapidocr wheel); PluginError when missing."""
    import openvino as ov

    from nvr.plugins.lpr.ocr_models import DET_FILE, model_path
    from nvr.plugins.lpr.textdet import TextDetector

    path = model_path(DET_FILE)
    return TextDetector(ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": 1}))


def encode_jpeg(rgb: np.ndarray, width: int, quality: int = 80) -> bytes:
    img = Image.fromarray(rgb)
    if img.width > width:
        img = img.resize((width, max(2, round(img.height * width / img.width))), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


class PublicFrames:
    """Blurred snapshots per camera, refreshed at most every ``public_snapshot_s`` however many viewers."""

    def __init__(self, runtime: Runtime, privacy: Privacy) -> None:
        self.runtime, self.privacy = runtime, privacy
        self._cache: dict[str, _Frame] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._busy = asyncio.Semaphore(MAX_PARALLEL_FRAMES)

    async def snapshot(self, camera: CameraConfig, config: KelurahanConfig) -> bytes:
        await self.privacy.ready()
        async with self._locks.setdefault(camera.name, asyncio.Lock()):
            cached = self._cache.get(camera.name)
            if cached is not None and time.monotonic() - cached.at < config.public_snapshot_s:
                return cached.jpeg
            async with self._busy:  # anonymous viewers of many cameras cannot start many grabs and inferences
                rgb = await self._latest(camera, config)
                jpeg = await asyncio.to_thread(lambda: encode_jpeg(self.privacy.blur(rgb), config.public_width))
            self._cache[camera.name] = _Frame(jpeg, time.monotonic())
            return jpeg

    async def _latest(self, camera: CameraConfig, config: KelurahanConfig) -> np.ndarray:
        analysis = self.runtime.analysis
        pipeline = analysis.cameras.get(camera.name) if analysis is not None else None
        latest = pipeline.latest if pipeline is not None else None
        if latest is not None and time.time() * 1e6 - latest.time_us <= config.public_snapshot_s * 2e6:
            return latest.rgb
        stream = camera.stream
        url = (stream.sub or stream.main) if stream is not None else None
        status = self.runtime.cameras.status(camera.name) if self.runtime.cameras else None
        if url is None and status is not None:
            url = status.sub_uri or status.main_uri
        if url is None:
            raise ThumbnailUnavailable("the camera's stream address is not known yet")
        user, password = camera.rtsp_credentials()
        return await asyncio.to_thread(grab_keyframe, url, user, password, stream.transport if stream else "tcp")


def render_clip(sources: list[tuple[Path, int]], start_us: int, end_us: int, out: Path, privacy: Privacy) -> int:
    """Decode the segments (path, wall-clock start µs) over [start_us, end_us), blur, encode H.264 to ``out``.

    Blocking. Returns the number of frames written; the file appears only when complete.
    """
    part = out.with_suffix(".part")
    written, boxes, looked = 0, [], -1e18
    with av.open(str(part), "w", format="mp4", options={"movflags": "+faststart"}) as sink:
        stream = None
        for path, seg_start in sources:
            with av.open(str(path)) as src:
                video = src.streams.video[0]
                first = None
                for frame in src.decode(video):
                    if frame.pts is None or frame.time is None:
                        continue
                    first = frame.time if first is None else first
                    wall = seg_start + int((frame.time - first) * 1e6)
                    if wall < start_us or wall >= end_us:
                        continue
                    rgb = frame.to_ndarray(format="rgb24")
                    if stream is None:
                        stream = sink.add_stream("libx264", rate=Fraction(1000, 1))
                        stream.width, stream.height = rgb.shape[1] // 2 * 2, rgb.shape[0] // 2 * 2
                        stream.pix_fmt = "yuv420p"
                        stream.time_base = Fraction(1, 1000)
                        stream.options = {"preset": "veryfast", "crf": "26"}
                    if wall - looked >= DETECT_EVERY_S * 1e6:
                        boxes, looked = privacy.boxes(rgb), wall
                    image = av.VideoFrame.from_ndarray(blur_boxes(rgb, boxes)[: stream.height, : stream.width],
                                                       format="rgb24")
                    image.pts = (wall - start_us) // 1000
                    image.time_base = Fraction(1, 1000)
                    for packet in stream.encode(image):
                        sink.mux(packet)
                    written += 1
        if stream is not None:
            for packet in stream.encode(None):
                sink.mux(packet)
    if written == 0:
        part.unlink(missing_ok=True)
        return 0
    part.replace(out)
    return written


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("kelurahan: cannot prepare public clip %s: %s", task.get_name(), task.exception())


class PublicClips:
    """Blurred clips of share links, rendered once (one at a time) and cached on disk."""

    def __init__(self, runtime: Runtime, privacy: Privacy) -> None:
        self.runtime, self.privacy = runtime, privacy
        self._lock = asyncio.Lock()
        self._jobs: dict[str, asyncio.Task] = {}

    @property
    def folder(self) -> Path:
        return Path(self.runtime.config.storage.root).resolve().parent / "kelurahan-public"

    def forget(self, keep: set[int] | None = None, share_id: int | None = None) -> int:
        """Delete cached clips of one share (revoked), or of every share not in ``keep`` (expired); blocking."""
        removed = 0
        for path in self.folder.glob("share-*.mp4") if self.folder.is_dir() else ():
            try:
                sid = int(path.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if sid == share_id or (keep is not None and sid not in keep):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def start(self, share_id: int, camera: str, start_us: int, end_us: int) -> asyncio.Task:
        """Render the clip in the background (once per share; renders run one at a time)."""
        key = f"share-{share_id}-{start_us}-{end_us}"
        task = self._jobs.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.get_running_loop().create_task(self._render(key, camera, start_us, end_us), name=key)
            task.add_done_callback(_log_failure)
            self._jobs[key] = task
        return task

    async def _render(self, key: str, camera: str, start_us: int, end_us: int) -> Path | None:
        await self.privacy.ready()
        out = self.folder / f"{key}.mp4"
        async with self._lock:
            if out.is_file():
                return out
            segments = await self.runtime.catalog.segments(camera, start_us, end_us)
            root = Path(self.runtime.config.storage.root)
            sources = [(root / s.path, s.start_time) for s in segments if getattr(s, "state", "ok") == "ok"]
            if not sources:
                return None
            out.parent.mkdir(parents=True, exist_ok=True)
            frames = await asyncio.to_thread(render_clip, sources, start_us, end_us, out, self.privacy)
            return out if frames else None

    async def clip(self, share_id: int, camera: str, start_us: int, end_us: int, wait_s: float = 20.0) -> Path | None:
        """The blurred clip's file, or None when no footage covers the range; ``ClipPending`` while it renders
        longer than ``wait_s`` (the viewer is asked to come back); ``BlurUnavailable`` when it cannot be blurred."""
        task = self.start(share_id, camera, start_us, end_us)
        try:
            return await asyncio.wait_for(asyncio.shield(task), wait_s)
        except TimeoutError:
            raise ClipPending("the clip is being prepared") from None

    async def close(self) -> None:
        for task in self._jobs.values():
            task.cancel()
        await asyncio.gather(*self._jobs.values(), return_exceptions=True)
