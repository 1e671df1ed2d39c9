"""Renders, caches on disk and loads into memory the looping H.264 clips the simulator streams."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import av

from nvr.sim import h264
from nvr.sim.photo_scene import make_scene
from nvr.sim.scene import font_signature

log = logging.getLogger(__name__)

#: Bump whenever the scene or the encoder settings change: it invalidates cached clips.
CLIP_VERSION = 2

#: Stream variants: "main" and "sub" are the normal streams, "alt" is the
#: other resolution used by the ``resolution_change`` fault.
VARIANT_SIZES: dict[str, tuple[int, int]] = {
    "main": (1280, 720),
    "sub": (640, 360),
    "alt": (960, 540),
}


class ClipError(RuntimeError):
    """A clip could not be rendered or its cached file is unusable."""


@dataclass(frozen=True)
class ClipSpec:
    """Render parameters; every field is part of the cache key."""

    fps: int = 25
    duration: float = 10.0
    gop_seconds: float = 1.0
    sizes: tuple[tuple[str, int, int], ...] = tuple((k, w, h) for k, (w, h) in VARIANT_SIZES.items())
    preset: str = "veryfast"
    crf: int = 23
    scene: str = "street"
    """``street`` (drawn), ``empty`` (a plain wall), ``red-ball``, ``people-N`` (N photos of a person; scikit-image),
    or ``plates`` / ``plates-<px>`` (cars with known plates passing, ``nvr.sim.plate_scene``)."""

    def __post_init__(self) -> None:
        if self.fps <= 0 or self.duration <= 0:
            raise ValueError("fps and duration must be positive")
        if abs(self.fps * self.duration - self.frame_count) > 1e-6:
            raise ValueError("fps * duration must be a whole number of frames")
        if abs(self.fps * self.gop_seconds - self.gop) > 1e-6 or self.gop <= 0:
            raise ValueError("fps * gop_seconds must be a whole number of frames")
        if self.frame_count % self.gop:
            raise ValueError("the loop length must be a whole number of GOPs (seamless keyframe loop)")
        for _, w, h in self.sizes:
            if w % 2 or h % 2:
                raise ValueError("width and height must be even")

    @property
    def frame_count(self) -> int:
        """Frames in one loop."""
        return round(self.fps * self.duration)

    @property
    def gop(self) -> int:
        """Frames between IDR frames."""
        return round(self.fps * self.gop_seconds)

    @property
    def variants(self) -> tuple[str, ...]:
        """Names of the variants this spec renders."""
        return tuple(name for name, _, _ in self.sizes)

    def size(self, variant: str) -> tuple[int, int]:
        """(width, height) of ``variant``."""
        for name, w, h in self.sizes:
            if name == variant:
                return w, h
        raise KeyError(f"unknown clip variant {variant!r}; known: {', '.join(self.variants)}")

    def file_name(self, variant: str) -> str:
        """Cache file name for ``variant``: readable prefix plus a hash of everything that matters."""
        w, h = self.size(variant)
        scene = "" if self.scene == "street" else f"|{self.scene}"
        params = (
            f"{CLIP_VERSION}|{w}x{h}|{self.fps}|{self.duration}|{self.gop}|{self.preset}|{self.crf}|"
            f"{font_signature()}|{av.__version__}{scene}"
        )
        digest = hashlib.sha256(params.encode()).hexdigest()[:12]
        return f"clip-v{CLIP_VERSION}-{variant}-{w}x{h}-{self.fps}fps-{self.frame_count}f-{digest}.h264"


DEFAULT_SPEC = ClipSpec()


@dataclass(frozen=True)
class AccessUnit:
    """One coded frame: NAL units without start codes, keyframe flag, pts in 90 kHz units."""

    nals: tuple[bytes, ...]
    keyframe: bool
    pts: int

    @property
    def size(self) -> int:
        """Total NAL payload bytes."""
        return sum(len(n) for n in self.nals)


@dataclass(frozen=True)
class Clip:
    """An in-memory looping H.264 clip, shared read-only by every streaming session."""

    variant: str
    width: int
    height: int
    fps: int
    frames: tuple[AccessUnit, ...]
    sps: bytes
    pps: bytes
    path: Path | None = field(default=None, compare=False)

    @property
    def frame_duration_90k(self) -> float:
        """Frame interval in 90 kHz ticks."""
        return 90000 / self.fps

    @property
    def duration_90k(self) -> int:
        """Loop length in 90 kHz ticks."""
        return round(len(self.frames) * 90000 / self.fps)

    @property
    def duration(self) -> float:
        """Loop length in seconds."""
        return len(self.frames) / self.fps

    @property
    def profile_level_id(self) -> str:
        """SDP ``profile-level-id``."""
        return h264.profile_level_id(self.sps)

    @property
    def sprop_parameter_sets(self) -> str:
        """SDP ``sprop-parameter-sets``."""
        return h264.sprop_parameter_sets(self.sps, self.pps)

    @property
    def bitrate(self) -> float:
        """Average bitrate in bits per second."""
        return sum(au.size for au in self.frames) * 8 / self.duration


def default_cache_dir() -> Path:
    """``$NVR_SIM_CACHE``, else ``$XDG_CACHE_HOME/nvr/sim``, else ``~/.cache/nvr/sim``."""
    env = os.environ.get("NVR_SIM_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "nvr" / "sim"


def clip_path(variant: str, spec: ClipSpec = DEFAULT_SPEC, cache_dir: Path | None = None) -> Path:
    """Where the cached file for ``variant`` lives."""
    return (cache_dir or default_cache_dir()) / spec.file_name(variant)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Inter-process exclusive lock (no-op where ``fcntl`` is unavailable)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_rendered(spec: ClipSpec = DEFAULT_SPEC, cache_dir: Path | None = None) -> dict[str, Path]:
    """Render every variant of ``spec`` that is not cached yet; return variant -> path."""
    directory = cache_dir or default_cache_dir()
    paths = {v: clip_path(v, spec, directory) for v in spec.variants}
    if all(p.is_file() for p in paths.values()):
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    lock_name = f".render-v{CLIP_VERSION}-{hashlib.sha256(repr(spec).encode()).hexdigest()[:12]}.lock"
    with _file_lock(directory / lock_name):
        missing = {v: p for v, p in paths.items() if not p.is_file()}
        if missing:
            render_clips(missing, spec)
            _prune_old_versions(directory)
    return paths


def _prune_old_versions(directory: Path) -> None:
    """Delete cached clips written by older renderer versions (they are never read again)."""
    for path in [*directory.glob("clip-v*-*.h264"), *directory.glob(".render-v*-*.lock")]:
        version = path.name.split("-v", 1)[1].split("-", 1)[0]
        if version.isdigit() and int(version) < CLIP_VERSION:
            with contextlib.suppress(OSError):
                path.unlink()
                log.info("removed stale cached clip %s", path.name)


def _encoder_options(spec: ClipSpec) -> dict[str, str]:
    params = ":".join(
        [
            f"keyint={spec.gop}",
            f"min-keyint={spec.gop}",
            "scenecut=0",
            "bframes=0",
            "open-gop=0",
            "repeat-headers=1",
            "aud=0",
        ]
    )
    return {"preset": spec.preset, "profile": "baseline", "crf": str(spec.crf), "x264-params": params}


def render_clips(paths: dict[str, Path], spec: ClipSpec = DEFAULT_SPEC) -> None:
    """Render the variants in ``paths`` in one pass over the scene, writing each file atomically."""
    started = time.monotonic()
    scene = make_scene(spec.scene, spec.fps, spec.duration)
    outputs = []
    try:
        for variant, path in paths.items():
            w, h = spec.size(variant)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            container = av.open(str(tmp), mode="w", format="h264")
            stream = container.add_stream("libx264", rate=spec.fps, options=_encoder_options(spec))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.codec_context.gop_size = spec.gop
            stream.codec_context.max_b_frames = 0
            stream.codec_context.thread_type = "FRAME"  # one slice per frame, independent of the CPU count
            stream.codec_context.thread_count = 2
            outputs.append((variant, path, tmp, container, stream))
        for index in range(spec.frame_count):
            rgb = av.VideoFrame.from_image(scene.render(index))
            for _, _, _, container, stream in outputs:
                frame = rgb.reformat(width=stream.width, height=stream.height, format="yuv420p", interpolation="AREA")
                frame.pts = index
                container.mux(stream.encode(frame))
        for _, _, _, container, stream in outputs:
            container.mux(stream.encode(None))
            container.close()
        for _, path, tmp, _, _ in outputs:
            os.replace(tmp, path)
    except BaseException:
        for _, _, tmp, container, _ in outputs:
            with contextlib.suppress(Exception):
                container.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    log.info("rendered %s in %.1f s", ", ".join(paths), time.monotonic() - started)


def read_clip(path: Path, variant: str, spec: ClipSpec = DEFAULT_SPEC) -> Clip:
    """Demux (no decode) a cached Annex B file into access units and validate it."""
    frames: list[AccessUnit] = []
    sps = pps = b""
    try:
        with av.open(str(path), format="h264") as container:
            for packet in container.demux(video=0):
                if packet.size == 0:
                    continue
                nals = [
                    n
                    for n in h264.split_annexb(bytes(packet))
                    if h264.nal_type(n) not in (h264.NAL_AUD, h264.NAL_SEI, h264.NAL_FILLER)
                ]
                types = [h264.nal_type(n) for n in nals]
                keyframe = h264.NAL_IDR in types
                if keyframe:
                    sps = next((n for n in nals if h264.nal_type(n) == h264.NAL_SPS), sps)
                    pps = next((n for n in nals if h264.nal_type(n) == h264.NAL_PPS), pps)
                    if h264.NAL_SPS not in types and sps:
                        nals = [sps, pps, *nals]  # guarantee in-band parameter sets before every IDR
                frames.append(AccessUnit(tuple(nals), keyframe, round(len(frames) * 90000 / spec.fps)))
    except av.error.FFmpegError as exc:
        raise ClipError(f"cannot demux {path}: {exc}") from exc
    if len(frames) != spec.frame_count:
        raise ClipError(f"{path}: expected {spec.frame_count} frames, found {len(frames)}")
    if not frames[0].keyframe or not sps or not pps:
        raise ClipError(f"{path}: clip does not start with SPS/PPS/IDR")
    w, h = spec.size(variant)
    return Clip(variant=variant, width=w, height=h, fps=spec.fps, frames=tuple(frames), sps=sps, pps=pps, path=path)


_cache: dict[tuple[str, ClipSpec, Path], Clip] = {}
_cache_lock = threading.Lock()


def load_clip(variant: str = "main", spec: ClipSpec = DEFAULT_SPEC, cache_dir: Path | None = None) -> Clip:
    """Return the in-memory clip for ``variant`` ("main", "sub" or "alt").

    Renders all variants on first use (a few seconds), then reads from the
    disk cache; each clip is loaded once per process. Blocking: from the
    event loop use :func:`load_clip_async`.
    """
    spec.size(variant)  # clear error for an unknown variant
    directory = (cache_dir or default_cache_dir()).resolve()
    key = (variant, spec, directory)
    with _cache_lock:
        clip = _cache.get(key)
        if clip is not None:
            return clip
        paths = ensure_rendered(spec, directory)
        try:
            clip = read_clip(paths[variant], variant, spec)
        except ClipError as exc:
            log.warning("discarding unusable cached clip: %s", exc)
            with contextlib.suppress(OSError):
                paths[variant].unlink()
            paths = ensure_rendered(spec, directory)
            clip = read_clip(paths[variant], variant, spec)
        _cache[key] = clip
        return clip


async def load_clip_async(variant: str = "main", spec: ClipSpec = DEFAULT_SPEC, cache_dir: Path | None = None) -> Clip:
    """:func:`load_clip` in a worker thread, so the event loop keeps running while it renders."""
    return await asyncio.to_thread(load_clip, variant, spec, cache_dir)
