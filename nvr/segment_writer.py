"""One fragmented-MP4 segment on disk: fragments written to ``.part``, then fsync, rename and fsync the folder.

The boxes are built in memory on the ingest thread (``nvr.fmp4_mux``); every
file operation runs in order on the shared file pool (``SerialJobs``), so the
packet path never blocks on the disk. A fragment (one keyframe to the next)
reaches the file with one ``writev`` as soon as the next keyframe arrives, so a
crash loses at most the open fragment.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import Future
from pathlib import Path

from nvr.fmp4_mux import AUDIO_TRACK, VIDEO_TRACK, AudioEntry, TrackRun, VideoEntry, fragment, init_segment
from nvr.h26x import avcc_record, hvcc_record
from nvr.ingest_thread import SerialJobs
from nvr.media_units import AudioTrack, VideoTrack
from nvr.parameter_sets import ParameterSets
from nvr.storage.durable import fsync_dir, make_dirs_durable
from nvr.storage.layout import partial_path

log = logging.getLogger(__name__)

_IOV_MAX = 1000
"""Buffers per ``writev`` call (the kernel's limit is 1024)."""
AUDIO_FOURCC = {"aac": b"mp4a", "pcm_alaw": b"alaw", "pcm_mulaw": b"ulaw"}
"""How each audio codec is stored: AAC as mp4a/esds; G.711 as is (``alaw``/``ulaw``, which FFmpeg demuxes)."""


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


def video_entry(codec: str, params: ParameterSets) -> VideoEntry:
    """The ``avc1``/``hvc1`` sample entry for ``params``; ValueError if they lack a usable SPS."""
    info = params.info
    if codec == "h264":
        config = avcc_record(params.nals, info)
        fourcc = b"avc1"
    elif codec == "hevc":
        if info is None:
            raise ValueError("the H.265 parameter sets have no SPS that could be parsed")
        config = hvcc_record(params.nals, info)
        fourcc = b"hvc1"
    else:
        raise ValueError(f"cannot store {codec} video")
    width, height = (info.width, info.height) if info is not None else (params.width or 0, params.height or 0)
    return VideoEntry(fourcc, width, height, config)


def audio_entry(track: AudioTrack) -> AudioEntry:
    """The sample entry for an audio track (timed in its RTP clock, which is its sample rate)."""
    return AudioEntry(AUDIO_FOURCC[track.codec], track.clock_rate, max(1, track.channels), track.config)


class SegmentWriter:
    """Writes one segment; called on the ingest thread, never blocks on I/O.

    Video timestamps are 90 kHz ticks from the segment start, audio ones are
    in the audio clock from the segment start. The first video sample must be
    a keyframe; each keyframe starts a fragment. ``jobs.error`` holds the first
    I/O error (the recorder checks it and ends the connection).
    """

    def __init__(self, root: Path, relpath: str, video: VideoTrack, params: ParameterSets,
                 audio: AudioTrack | None = None) -> None:
        self.relpath = relpath
        self.final = root / relpath
        self.part = partial_path(self.final)
        self.codec = video.codec
        entry = video_entry(video.codec, params)
        self.width = entry.width or None
        self.height = entry.height or None
        self.params = params
        self.has_audio = audio is not None
        head = init_segment(entry, audio_entry(audio) if audio is not None else None)
        self.size = len(head)
        self.frames = 0
        self.keyframes = 0
        self._seq = 0
        self._video: TrackRun | None = None
        self._audio: TrackRun | None = None
        self._audio_end = 0
        self._fd: int | None = None
        self.jobs = SerialJobs()
        self.jobs.submit(self._open, root, head)

    # ------------------------------------------------------------------ samples (ingest thread)
    def write_video(self, data: bytes, dts: int, duration: int, key: bool) -> None:
        """Add one picture (MP4 sample: 4-byte-length NAL units)."""
        run = self._video
        if key and run is not None:
            self._flush()
            run = None
        if run is None:
            run = self._video = TrackRun(VIDEO_TRACK, dts, key)
        run.add(data, duration)
        self.frames += 1
        if key:
            self.keyframes += 1

    def write_audio(self, data: bytes, dts: int, duration: int) -> None:
        """Add one audio frame; ignored when the segment has no audio track or ``dts`` is not after the last."""
        if not self.has_audio:
            return
        run = self._audio
        if run is None:
            run = self._audio = TrackRun(AUDIO_TRACK, dts)
        elif dts != self._audio_end:  # a gap (lost packets) or an overlap: fit the previous frame to it
            fixed = dts - (self._audio_end - run.durations[-1])
            if fixed <= 0:
                return
            run.durations[-1] = fixed
        run.add(data, duration)
        self._audio_end = dts + duration

    def close(self) -> Future[int]:
        """Write the open fragment, then (on the pool) fsync, rename and fsync the folder; the future gives the size."""
        self._flush()
        return self.jobs.submit(self._finish, self.size)

    def abandon(self) -> None:
        """After a failure: close the file, leaving whatever complete fragments reached the ``.part`` file."""
        self._video = self._audio = None
        self.jobs.submit(self._close_quietly)

    def _flush(self) -> None:
        buffers = fragment(self._seq + 1, self._video, self._audio)
        self._video = self._audio = None
        if not buffers:
            return
        self._seq += 1
        self.size += sum(map(len, buffers))
        self.jobs.submit(self._write, buffers)

    # ------------------------------------------------------------------ file work (pool threads)
    def _open(self, root: Path, head: bytes) -> None:
        make_dirs_durable(self.final.parent, root)
        self._fd = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self._write([head])

    def _write(self, buffers: list[bytes]) -> None:
        fd = self._fd
        if fd is None:
            raise OSError(f"{self.part} is not open")
        for i in range(0, len(buffers), _IOV_MAX):
            chunk = buffers[i:i + _IOV_MAX]
            want = sum(map(len, chunk))
            done = os.writev(fd, chunk)
            if done < want:  # short write (rare): write the rest plainly
                rest = b"".join(chunk)[done:]
                while rest:
                    rest = rest[os.write(fd, rest):]

    def _finish(self, size: int) -> int:
        fd = self._fd
        if fd is None:
            raise OSError(f"{self.part} is not open")
        self._fd = None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.part, self.final)
        fsync_dir(self.final.parent)
        return size

    def _close_quietly(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError as exc:
                log.debug("closing %s after a failure: %s", self.part, exc)
