"""One fragmented-MP4 segment on disk: stream copy into ``.part``, then fsync, rename and fsync the folder."""

from __future__ import annotations

import functools
import hashlib
import io
import logging
from fractions import Fraction
from pathlib import Path

import av
from av.packet import Packet
from av.stream import Stream

from nvr.parameter_sets import ParameterSets
from nvr.storage.durable import durable_rename, make_dirs_durable
from nvr.storage.layout import partial_path

log = logging.getLogger(__name__)

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
"""moov up front (no samples), then one moof+mdat fragment per keyframe; the base offset is the moof itself."""
MUX_OPTIONS = {"movflags": MOVFLAGS, "flush_packets": "1"}
"""``flush_packets`` hands each finished fragment to the OS at once, so a crash loses at most the open one."""
TIME_BASE = Fraction(1, 90_000)
"""Video timestamps handed to the writer are 90 kHz ticks relative to the segment start."""

_refused_audio: set[str] = set()


def stagger_fraction(camera: str) -> float:
    """A stable per-camera fraction in [0.5, 1.0) for the first segment of a run.

    Cameras that connect together would otherwise rotate (and fsync) together
    for as long as they run.
    """
    digest = hashlib.blake2b(camera.encode("utf-8"), digest_size=8).digest()
    return 0.5 + 0.5 * int.from_bytes(digest, "big") / 2**64


def first_target(camera: str, target: int) -> int:
    """Target length (any unit) of a run's first segment."""
    return max(1, int(target * stagger_fraction(camera)))


def audio_supported(stream: Stream | None) -> bool:
    """Whether the mp4 muxer can store ``stream``'s codec as is (G.711, for one, it cannot)."""
    if stream is None or stream.codec_context is None:
        return False
    name = stream.codec_context.name
    if name in _mp4_codecs():
        return True
    if name not in _refused_audio:
        _refused_audio.add(name)
        log.warning("the mp4 muxer cannot store %s audio: recording video only for such cameras", name)
    return False


@functools.cache
def _mp4_codecs() -> frozenset[str]:
    with av.open(io.BytesIO(), mode="w", format="mp4") as probe:
        return frozenset(probe.supported_codecs)


class SegmentWriter:
    """Writes one segment; every method blocks on I/O (call it from the recorder thread).

    Packets must arrive in decode order with timestamps relative to the
    segment start (video in 90 kHz ticks; audio in its own stream time base).
    The first video packet must be a keyframe.
    """

    def __init__(self, root: Path, relpath: str, video: Stream, params: ParameterSets | None,
                 audio: Stream | None = None) -> None:
        self.relpath = relpath
        self.final = root / relpath
        self.part = partial_path(self.final)
        make_dirs_durable(self.final.parent, root)
        self.frames = 0
        self.keyframes = 0
        self.width = params.width if params and params.width else video.codec_context.width or None
        self.height = params.height if params and params.height else video.codec_context.height or None
        self._out = av.open(str(self.part), mode="w", format="mp4", options=MUX_OPTIONS)
        try:
            self._video = self._out.add_stream_from_template(video)
            self._video.time_base = TIME_BASE
            if params is not None:
                self._video.codec_context.extradata = params.annexb()
            if self.width and self.height:
                self._video.codec_context.width = self.width
                self._video.codec_context.height = self.height
            self._audio = self._out.add_stream_from_template(audio) if audio is not None else None
        except BaseException:
            self._out.close()
            raise

    def write_video(self, packet: Packet, dts: int, pts: int, duration: int, keyframe: bool) -> None:
        """Mux one video packet (90 kHz ticks from the segment start)."""
        packet.stream = self._video
        packet.time_base = TIME_BASE
        packet.dts = dts
        packet.pts = pts
        packet.duration = duration
        self._out.mux_one(packet)
        self.frames += 1
        if keyframe:
            self.keyframes += 1

    def write_audio(self, packet: Packet, dts: int, duration: int) -> None:
        """Mux one audio packet (90 kHz ticks from the segment start); ignored if the segment has no audio."""
        if self._audio is None:
            return
        packet.stream = self._audio
        packet.time_base = TIME_BASE
        packet.dts = packet.pts = dts
        packet.duration = duration
        self._out.mux_one(packet)

    def close(self) -> int:
        """Finish the file, make it durable under its final name, and return its size in bytes."""
        self._out.close()
        durable_rename(self.part, self.final)
        return self.final.stat().st_size

    def abandon(self) -> None:
        """Close after a failure, leaving whatever complete fragments reached the ``.part`` file."""
        try:
            self._out.close()
        except Exception as exc:  # the muxer may be broken; the .part file is what it is
            log.debug("closing %s after a failure: %s", self.part, exc)
