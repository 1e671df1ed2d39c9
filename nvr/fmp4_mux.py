"""Fragmented-MP4 boxes (ISO/IEC 14496-12): an init segment (ftyp + moov) and moof + mdat fragments."""

from __future__ import annotations

import struct
from dataclasses import dataclass

VIDEO_TRACK, AUDIO_TRACK = 1, 2
KEY_FLAGS = 0x02000000
"""sample_depends_on = 2: an independent (sync) sample."""
NON_KEY_FLAGS = 0x01010000
"""sample_depends_on = 1 and sample_is_non_sync_sample."""
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_TFHD_FLAGS = 0x020000 | 0x20
"""default-base-is-moof, default-sample-flags-present."""
_TRUN_VIDEO = 0x001 | 0x004 | 0x100 | 0x200
"""data-offset, first-sample-flags, sample-duration and sample-size present."""
_TRUN_AUDIO = 0x001 | 0x100 | 0x200


def box(kind: bytes, *payload: bytes) -> bytes:
    """A box of type ``kind`` holding the concatenated ``payload``."""
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    """A full box (version and 24-bit flags before the payload)."""
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


@dataclass(frozen=True, slots=True)
class VideoEntry:
    """A video sample entry: ``avc1`` (config = avcC record) or ``hvc1`` (config = hvcC record)."""

    fourcc: bytes
    width: int
    height: int
    config: bytes
    timescale: int = 90_000


@dataclass(frozen=True, slots=True)
class AudioEntry:
    """An audio sample entry: ``mp4a`` (config = AudioSpecificConfig), ``alaw`` or ``ulaw``."""

    fourcc: bytes
    sample_rate: int
    channels: int
    config: bytes = b""

    @property
    def timescale(self) -> int:
        """Audio samples are timed in their own sample rate."""
        return self.sample_rate


def _descriptor(tag: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 0x80:
        return bytes((tag, size)) + payload
    return bytes((tag, 0x80 | (size >> 21) & 0x7F, 0x80 | (size >> 14) & 0x7F, 0x80 | (size >> 7) & 0x7F,
                  size & 0x7F)) + payload


def _esds(config: bytes) -> bytes:
    decoder_specific = _descriptor(5, config)
    decoder_config = _descriptor(4, struct.pack(">BBBHII", 0x40, 0x15, 0, 0, 0, 0) + decoder_specific)
    es = _descriptor(3, struct.pack(">HB", 0, 0) + decoder_config + _descriptor(6, b"\x02"))
    return full_box(b"esds", 0, 0, es)


def _video_sample_entry(entry: VideoEntry) -> bytes:
    config_kind = b"avcC" if entry.fourcc in (b"avc1", b"avc3") else b"hvcC"
    return box(entry.fourcc, bytes(6), struct.pack(">HHH3IHHIIIH32sHh", 1, 0, 0, 0, 0, 0, entry.width, entry.height,
                                                   0x480000, 0x480000, 0, 1, b"", 0x18, -1),
               box(config_kind, entry.config))


def _audio_sample_entry(entry: AudioEntry) -> bytes:
    children = _esds(entry.config) if entry.fourcc == b"mp4a" else b""
    rate = entry.sample_rate if entry.sample_rate < 0x10000 else 0
    return box(entry.fourcc, bytes(6), struct.pack(">HIIHHHHI", 1, 0, 0, entry.channels, 16, 0, 0, rate << 16),
               children)


def _track(track_id: int, timescale: int, handler: bytes, media_header: bytes, sample_entry: bytes,
           width: int = 0, height: int = 0) -> bytes:
    volume = 0x0100 if handler == b"soun" else 0
    tkhd = full_box(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, track_id, 0, 0), bytes(8),
                    struct.pack(">hhhH", 0, 0, volume, 0), _MATRIX, struct.pack(">II", width << 16, height << 16))
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, 0x55C4, 0))  # language "und"
    name = b"VideoHandler\x00" if handler == b"vide" else b"SoundHandler\x00"
    hdlr = full_box(b"hdlr", 0, 0, struct.pack(">I4s", 0, handler), bytes(12), name)
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    stbl = box(b"stbl", full_box(b"stsd", 0, 0, struct.pack(">I", 1), sample_entry),
               full_box(b"stts", 0, 0, bytes(4)), full_box(b"stsc", 0, 0, bytes(4)),
               full_box(b"stsz", 0, 0, bytes(8)), full_box(b"stco", 0, 0, bytes(4)))
    minf = box(b"minf", media_header, dinf, stbl)
    return box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))


def init_segment(video: VideoEntry, audio: AudioEntry | None = None) -> bytes:
    """ftyp + moov with empty sample tables and an mvex (one trex per track): the head of every segment."""
    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso6mp41" + video.fourcc)
    tracks = [_track(VIDEO_TRACK, video.timescale, b"vide", full_box(b"vmhd", 0, 1, bytes(8)),
                     _video_sample_entry(video), video.width, video.height)]
    trex = [full_box(b"trex", 0, 0, struct.pack(">5I", VIDEO_TRACK, 1, 0, 0, 0))]
    if audio is not None:
        tracks.append(_track(AUDIO_TRACK, audio.timescale, b"soun", full_box(b"smhd", 0, 0, bytes(4)),
                             _audio_sample_entry(audio)))
        trex.append(full_box(b"trex", 0, 0, struct.pack(">5I", AUDIO_TRACK, 1, 0, 0, 0)))
    next_id = AUDIO_TRACK + 1 if audio is not None else VIDEO_TRACK + 1
    mvhd = full_box(b"mvhd", 0, 0, struct.pack(">IIIIIH", 0, 0, 1000, 0, 0x10000, 0x0100), bytes(10), _MATRIX,
                    bytes(24), struct.pack(">I", next_id))
    return ftyp + box(b"moov", mvhd, *tracks, box(b"mvex", *trex))


class TrackRun:
    """The samples of one track in one fragment: decode time of the first, then sizes and durations."""

    __slots__ = ("track_id", "base_time", "sizes", "durations", "first_key", "data")

    def __init__(self, track_id: int, base_time: int, first_key: bool = True) -> None:
        self.track_id = track_id
        self.base_time = base_time
        self.first_key = first_key
        self.sizes: list[int] = []
        self.durations: list[int] = []
        self.data: list[bytes] = []

    def add(self, data: bytes, duration: int) -> None:
        """Append one sample."""
        self.data.append(data)
        self.sizes.append(len(data))
        self.durations.append(duration)


def _traf(run: TrackRun, data_offset: int, video: bool) -> bytes:
    count = len(run.sizes)
    flat = [0] * (2 * count)
    flat[0::2] = run.durations
    flat[1::2] = run.sizes
    table = struct.pack(f">{2 * count}I", *flat)
    default_flags = NON_KEY_FLAGS if video else KEY_FLAGS
    tfhd = full_box(b"tfhd", 0, _TFHD_FLAGS, struct.pack(">II", run.track_id, default_flags))
    tfdt = full_box(b"tfdt", 1, 0, struct.pack(">Q", run.base_time))
    if video:
        first = KEY_FLAGS if run.first_key else NON_KEY_FLAGS
        trun = full_box(b"trun", 0, _TRUN_VIDEO, struct.pack(">IiI", count, data_offset, first), table)
    else:
        trun = full_box(b"trun", 0, _TRUN_AUDIO, struct.pack(">Ii", count, data_offset), table)
    return box(b"traf", tfhd, tfdt, trun)


def fragment(sequence: int, video: TrackRun | None, audio: TrackRun | None = None) -> list[bytes]:
    """moof + mdat of one fragment, as buffers for a single ``writev`` (the sample data is not copied)."""
    runs = [(run, run.track_id == VIDEO_TRACK) for run in (video, audio) if run is not None and run.sizes]
    if not runs:
        return []
    mfhd = full_box(b"mfhd", 0, 0, struct.pack(">I", sequence))
    moof_size = len(box(b"moof", mfhd, *(_traf(run, 0, is_video) for run, is_video in runs)))
    offset = moof_size + 8
    trafs = []
    payload = 0
    for run, is_video in runs:
        trafs.append(_traf(run, offset + payload, is_video))
        payload += sum(run.sizes)
    moof = box(b"moof", mfhd, *trafs)
    buffers = [moof, struct.pack(">I4s", 8 + payload, b"mdat")]
    for run, _ in runs:
        buffers.extend(run.data)
    return buffers
