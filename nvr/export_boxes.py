"""ISO BMFF boxes for export: parse init segments and fragments, write them back rebased and trimmed."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "Fragment",
    "InitSegment",
    "MediaError",
    "TrackInfo",
    "TrackSamples",
    "build_fragment",
    "build_init",
    "build_mfra",
    "parse_init",
    "parse_moof",
]

_HEAD = struct.Struct(">I4s")
_NON_SYNC = 0x00010000
_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"edts"})
# tfhd flags
_BASE_OFFSET, _SDI, _DEF_DUR, _DEF_SIZE, _DEF_FLAGS, _BASE_IS_MOOF = 0x1, 0x2, 0x8, 0x10, 0x20, 0x020000
# trun flags
_T_OFFSET, _T_FIRST, _T_DUR, _T_SIZE, _T_FLAGS, _T_CTO = 0x1, 0x4, 0x100, 0x200, 0x400, 0x800


def box(kind: bytes, *payload: bytes) -> bytes:
    """A box of type ``kind`` holding the concatenated ``payload``."""
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    """A full box: version and 24-bit flags before the payload."""
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


class MediaError(ValueError):
    """A file is not a fragmented MP4 the exporter can read."""


def children(data: bytes | memoryview, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """``(type, box start, payload start, box end)`` of each box in ``data[start:end]``."""
    out = []
    pos = start
    while pos + 8 <= end:
        size, kind = _HEAD.unpack_from(data, pos)
        head = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            raise MediaError(f"box {bytes(kind)!r} at {pos} overruns its parent")
        out.append((bytes(kind), pos, pos + head, pos + size))
        pos += size
    return out


def _find(data: bytes | memoryview, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for k, _, payload, stop in children(data, start, end):
        if k == kind:
            return payload, stop
    return None


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """One track of an init segment: timescale, handler, codec description and ``trex`` defaults."""

    track_id: int
    timescale: int
    handler: str
    stsd: bytes
    default_sdi: int = 1
    default_duration: int = 0
    default_size: int = 0
    default_flags: int = 0

    @property
    def codec_key(self) -> tuple[int, int, str, bytes]:
        """What must match for two segments to be copied into one file."""
        return self.track_id, self.timescale, self.handler, self.stsd


@dataclass(frozen=True, slots=True)
class InitSegment:
    """ftyp + moov of a fragmented MP4."""

    ftyp: bytes
    moov: bytes
    movie_timescale: int
    tracks: tuple[TrackInfo, ...]
    size: int

    @property
    def signature(self) -> tuple[tuple[int, int, str, bytes], ...]:
        """Segments with equal signatures can be concatenated into one clip."""
        return tuple(t.codec_key for t in self.tracks)

    @property
    def video(self) -> TrackInfo:
        """The first video track."""
        for track in self.tracks:
            if track.handler == "vide":
                return track
        raise MediaError("no video track")

    def track(self, track_id: int) -> TrackInfo | None:
        return next((t for t in self.tracks if t.track_id == track_id), None)


def parse_init(data: bytes) -> InitSegment:
    """Parse ``ftyp`` + ``moov`` at the start of ``data`` (which may hold more after them)."""
    boxes = children(memoryview(data), 0, len(data)) if len(data) >= 8 else []
    if len(boxes) < 2 or boxes[0][0] != b"ftyp" or boxes[1][0] != b"moov":
        raise MediaError("does not start with ftyp + moov")
    _, m0, mp, m1 = boxes[1]
    mvhd = _find(data, mp, m1, b"mvhd")
    if mvhd is None:
        raise MediaError("moov has no mvhd")
    version = data[mvhd[0]]
    movie_ts = struct.unpack_from(">I", data, mvhd[0] + (20 if version == 1 else 12))[0]
    trex: dict[int, tuple[int, int, int, int]] = {}
    mvex = _find(data, mp, m1, b"mvex")
    if mvex is not None:
        for kind, _, p, _ in children(data, *mvex):
            if kind == b"trex":
                tid, sdi, dur, size, flags = struct.unpack_from(">5I", data, p + 4)
                trex[tid] = (sdi, dur, size, flags)
    tracks = []
    for kind, _, tp, t1 in children(data, mp, m1):
        if kind != b"trak":
            continue
        tkhd, mdia = _find(data, tp, t1, b"tkhd"), _find(data, tp, t1, b"mdia")
        if tkhd is None or mdia is None:
            raise MediaError("trak without tkhd or mdia")
        track_id = struct.unpack_from(">I", data, tkhd[0] + (20 if data[tkhd[0]] == 1 else 12))[0]
        mdhd, hdlr = _find(data, *mdia, b"mdhd"), _find(data, *mdia, b"hdlr")
        if mdhd is None or hdlr is None:
            raise MediaError(f"track {track_id}: no mdhd or hdlr")
        timescale = struct.unpack_from(">I", data, mdhd[0] + (20 if data[mdhd[0]] == 1 else 12))[0]
        handler = bytes(data[hdlr[0] + 8:hdlr[0] + 12]).decode("latin-1")
        minf = _find(data, *mdia, b"minf")
        stbl = _find(data, *minf, b"stbl") if minf else None
        stsd = _find(data, *stbl, b"stsd") if stbl else None
        if stsd is None or timescale <= 0:
            raise MediaError(f"track {track_id}: no sample description or no timescale")
        sdi, dur, size, flags = trex.get(track_id, (1, 0, 0, 0))
        tracks.append(TrackInfo(track_id, timescale, handler, bytes(data[stsd[0]:stsd[1]]), sdi, dur, size, flags))
    if not any(t.handler == "vide" for t in tracks):
        raise MediaError("no video track")
    return InitSegment(bytes(data[:boxes[0][3]]), bytes(data[m0:m1]), movie_ts, tuple(tracks), m1)


@dataclass(slots=True)
class TrackSamples:
    """The samples of one track in one fragment: decode time of the first, per-sample tables, file offsets."""

    track_id: int
    base_time: int
    durations: list[int]
    sizes: list[int]
    flags: list[int]
    ctos: list[int] | None
    offsets: list[int] = field(default_factory=list)
    """Absolute file offset of each sample's data."""

    def __len__(self) -> int:
        return len(self.sizes)

    def is_key(self, i: int) -> bool:
        return not self.flags[i] & _NON_SYNC

    def times(self) -> list[int]:
        """Decode time of each sample."""
        out, t = [], self.base_time
        for d in self.durations:
            out.append(t)
            t += d
        return out

    def end_time(self) -> int:
        return self.base_time + sum(self.durations)

    def slice(self, a: int, b: int, base_time: int) -> TrackSamples:
        """Samples ``[a, b)`` rebased so the first one decodes at ``base_time``."""
        return TrackSamples(self.track_id, base_time, self.durations[a:b], self.sizes[a:b], self.flags[a:b],
                            None if self.ctos is None else self.ctos[a:b], self.offsets[a:b])


@dataclass(slots=True)
class Fragment:
    """One ``moof`` (and the ``mdat`` after it): where it is and its samples per track."""

    offset: int
    end: int
    sequence: int
    tracks: dict[int, TrackSamples]


def parse_moof(data: bytes | memoryview, moof_offset: int, init: InitSegment, mdat_end: int) -> Fragment:
    """Parse the ``moof`` box at the start of ``data`` (which sits at file offset ``moof_offset``)."""
    size, kind = _HEAD.unpack_from(data, 0)
    if kind != b"moof":
        raise MediaError(f"expected moof at {moof_offset}, found {kind!r}")
    sequence = 0
    tracks: dict[int, TrackSamples] = {}
    next_base = moof_offset
    for k, _, p, stop in children(data, 8, size):
        if k == b"mfhd":
            sequence = struct.unpack_from(">I", data, p + 4)[0]
        elif k == b"traf":
            samples = _parse_traf(data, p, stop, moof_offset, next_base, init)
            if samples.offsets:
                next_base = samples.offsets[-1] + samples.sizes[-1]
            if samples.track_id in tracks:
                raise MediaError(f"two trafs for track {samples.track_id} in one fragment")
            tracks[samples.track_id] = samples
    return Fragment(moof_offset, mdat_end, sequence, tracks)


def _parse_traf(data: bytes | memoryview, start: int, end: int, moof_offset: int, implicit_base: int,
                init: InitSegment) -> TrackSamples:
    tfhd = _find(data, start, end, b"tfhd")
    if tfhd is None:
        raise MediaError("traf without tfhd")
    p = tfhd[0]
    flags = int.from_bytes(data[p + 1:p + 4], "big")
    track_id = struct.unpack_from(">I", data, p + 4)[0]
    info = init.track(track_id)
    if info is None:
        raise MediaError(f"fragment refers to unknown track {track_id}")
    p += 8
    base = implicit_base
    if flags & _BASE_OFFSET:
        base = struct.unpack_from(">Q", data, p)[0]
        p += 8
    elif flags & _BASE_IS_MOOF:
        base = moof_offset
    if flags & _SDI:
        p += 4
    def_dur, def_size, def_flags = info.default_duration, info.default_size, info.default_flags
    for bit in (_DEF_DUR, _DEF_SIZE, _DEF_FLAGS):
        if flags & bit:
            value = struct.unpack_from(">I", data, p)[0]
            p += 4
            if bit == _DEF_DUR:
                def_dur = value
            elif bit == _DEF_SIZE:
                def_size = value
            else:
                def_flags = value
    base_time = 0
    out = TrackSamples(track_id, 0, [], [], [], None, [])
    data_pos = base
    for kind, _, q, _stop in children(data, start, end):
        if kind == b"tfdt":
            base_time = struct.unpack_from(">Q" if data[q] == 1 else ">I", data, q + 4)[0]
        elif kind == b"trun":
            data_pos = _parse_trun(data, q, base, data_pos, def_dur, def_size, def_flags, out)
    out.base_time = base_time
    return out


def _parse_trun(data: bytes | memoryview, q: int, base: int, data_pos: int, def_dur: int, def_size: int,
                def_flags: int, out: TrackSamples) -> int:
    version = data[q]
    tflags = int.from_bytes(data[q + 1:q + 4], "big")
    count = struct.unpack_from(">I", data, q + 4)[0]
    q += 8
    if tflags & _T_OFFSET:
        data_pos = base + struct.unpack_from(">i", data, q)[0]
        q += 4
    first_flags = None
    if tflags & _T_FIRST:
        first_flags = struct.unpack_from(">I", data, q)[0]
        q += 4
    fields = [bit for bit in (_T_DUR, _T_SIZE, _T_FLAGS, _T_CTO) if tflags & bit]
    table = struct.unpack_from(">" + ("I" * len(fields)) * count, data, q) if fields else ()
    width = len(fields)
    column = {bit: table[i::width] if width else () for i, bit in enumerate(fields)}
    durations = list(column[_T_DUR]) if _T_DUR in column else [def_dur] * count
    sizes = list(column[_T_SIZE]) if _T_SIZE in column else [def_size] * count
    flags = list(column[_T_FLAGS]) if _T_FLAGS in column else [def_flags] * count
    if first_flags is not None and count:
        flags[0] = first_flags
    if _T_CTO in column:
        ctos = [c - (1 << 32) if version and c >= 1 << 31 else c for c in column[_T_CTO]]
        if out.ctos is None:
            out.ctos = [0] * len(out.sizes)
        out.ctos.extend(ctos)
    elif out.ctos is not None:
        out.ctos.extend([0] * count)
    for size in sizes:
        out.offsets.append(data_pos)
        data_pos += size
    out.durations.extend(durations)
    out.sizes.extend(sizes)
    out.flags.extend(flags)
    return data_pos


def _traf(samples: TrackSamples, data_offset: int) -> bytes:
    count = len(samples.sizes)
    rest = samples.flags[1:]
    uniform = not rest or rest.count(rest[0]) == len(rest)
    tflags = _T_OFFSET | _T_DUR | _T_SIZE
    version = 0
    ctos = samples.ctos if samples.ctos is not None and any(samples.ctos) else None
    if ctos is not None:
        tflags |= _T_CTO
        version = 1 if any(c < 0 for c in ctos) else 0
    head = struct.pack(">Ii", count, data_offset)
    if uniform:
        tflags |= _T_FIRST
        head += struct.pack(">I", samples.flags[0] if count else 0)
        tfhd = full_box(b"tfhd", 0, _BASE_IS_MOOF | _DEF_FLAGS,
                        struct.pack(">II", samples.track_id, rest[0] if rest else samples.flags[0]))
        columns = [samples.durations, samples.sizes] + ([ctos] if ctos else [])
    else:
        tflags |= _T_FLAGS
        tfhd = full_box(b"tfhd", 0, _BASE_IS_MOOF, struct.pack(">I", samples.track_id))
        columns = [samples.durations, samples.sizes, samples.flags] + ([ctos] if ctos else [])
    flat = [0] * (len(columns) * count)
    for i, column in enumerate(columns):
        flat[i::len(columns)] = column
    fmt = "".join("i" if ctos is not None and col is ctos else "I" for col in columns) * count
    tfdt = full_box(b"tfdt", 1, 0, struct.pack(">Q", samples.base_time))
    trun = full_box(b"trun", version, tflags, head, struct.pack(">" + fmt, *flat))
    return box(b"traf", tfhd, tfdt, trun)


def build_fragment(sequence: int, tracks: list[TrackSamples]) -> tuple[bytes, list[tuple[int, int]]]:
    """``moof`` + ``mdat`` header for ``tracks`` (in this order), and the source extents to copy after it.

    Extents are ``(file offset, length)`` runs of the source samples, merged
    where they touch; their bytes, in order, are the ``mdat`` payload.
    """
    tracks = [t for t in tracks if t.sizes]
    mfhd = full_box(b"mfhd", 0, 0, struct.pack(">I", sequence))
    moof_size = len(box(b"moof", mfhd, *(_traf(t, 0) for t in tracks)))
    offset = moof_size + 8
    trafs = []
    extents: list[tuple[int, int]] = []
    payload = 0
    for t in tracks:
        trafs.append(_traf(t, offset + payload))
        for off, size in zip(t.offsets, t.sizes, strict=True):
            if extents and extents[-1][0] + extents[-1][1] == off:
                extents[-1] = (extents[-1][0], extents[-1][1] + size)
            else:
                extents.append((off, size))
            payload += size
    if payload + 8 > 0xFFFFFFFF:
        raise MediaError("fragment too large")
    return box(b"moof", mfhd, *trafs) + struct.pack(">I4s", payload + 8, b"mdat"), extents


def _edts(media_time: int) -> bytes:
    """One edit: play the media from ``media_time`` to its end (duration 0: as long as the fragments go)."""
    return box(b"edts", full_box(b"elst", 1, 0, struct.pack(">IQqhh", 1, 0, media_time, 1, 0)))


def build_init(init: InitSegment, media_times: dict[int, int], duration: int | None = None) -> bytes:
    """``ftyp`` + ``moov`` of ``init`` with each track's edit list replaced: start at ``media_times[track]``.

    ``duration`` (movie timescale) goes into ``mvex/mehd``, so players know
    the length before they have read every fragment.
    """
    moov = memoryview(init.moov)
    parts = []
    for kind, start, payload, end in children(moov, 8, len(moov)):
        if kind == b"mvex" and duration is not None:
            rest = [bytes(moov[s:e]) for k, s, _, e in children(moov, payload, end) if k != b"mehd"]
            parts.append(box(b"mvex", full_box(b"mehd", 1, 0, struct.pack(">Q", duration)), *rest))
            continue
        if kind != b"trak":
            parts.append(bytes(moov[start:end]))
            continue
        pieces = []
        track_id = None
        for k, s, p, e in children(moov, payload, end):
            if k == b"edts":
                continue
            pieces.append(bytes(moov[s:e]))
            if k == b"tkhd":
                track_id = struct.unpack_from(">I", moov, p + (20 if moov[p] == 1 else 12))[0]
                pieces.append(_edts(media_times.get(track_id, 0)))
        parts.append(box(b"trak", *pieces))
    return init.ftyp + box(b"moov", *parts)


def build_mfra(track_id: int, entries: list[tuple[int, int]]) -> bytes:
    """A movie fragment random access box: ``(decode time, moof offset)`` of each keyframe fragment."""
    table = b"".join(struct.pack(">QQBBB", t, off, 1, 1, 1) for t, off in entries)
    tfra = full_box(b"tfra", 1, 0, struct.pack(">III", track_id, 0, len(entries)), table)
    size = 8 + len(tfra) + 16
    return box(b"mfra", tfra, full_box(b"mfro", 0, 0, struct.pack(">I", size)))
