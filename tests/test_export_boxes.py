"""The box layer: parse real init segments and fragments, rebuild them, and read back what was written."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from nvr.export_boxes import (
    InitSegment,
    MediaError,
    TrackSamples,
    build_fragment,
    build_init,
    build_mfra,
    children,
    parse_init,
    parse_moof,
)
from nvr.export_source import SourceReader, read_init
from tests.export_media import packets, write_av_fmp4
from tests.storage.media import write_fmp4


def test_parse_init_of_a_recorded_segment(tmp_path: Path) -> None:
    init = read_init(write_fmp4(tmp_path / "a.mp4", 50))
    assert [t.handler for t in init.tracks] == ["vide"] and init.video.timescale == 90_000
    assert init.video.stsd[12:16] == b"avc1"  # the sample description: codec and its parameter sets
    with_audio = read_init(write_av_fmp4(tmp_path / "b.mp4", 50))
    assert [t.handler for t in with_audio.tracks] == ["vide", "soun"]
    assert with_audio.signature != init.signature


def test_fragments_and_their_samples(tmp_path: Path) -> None:
    path = write_fmp4(tmp_path / "a.mp4", 60)  # keyframes at 0, 25, 50
    with SourceReader(path) as reader:
        fragments = [f.fragment for f in reader.fragments()]
        assert reader.finish()[0] == path.stat().st_size
    video = [f.tracks[reader.init.video.track_id] for f in fragments]
    assert [len(v) for v in video] == [25, 25, 10]
    assert [v.base_time for v in video] == [0, 25 * 3600, 50 * 3600]
    assert all(v.is_key(0) and not any(v.is_key(i) for i in range(1, len(v))) for v in video)
    assert [f.sequence for f in fragments] == [1, 2, 3]


def test_rebuilding_every_fragment_gives_the_same_packets(tmp_path: Path) -> None:
    source = write_av_fmp4(tmp_path / "a.mp4", 50)
    out = tmp_path / "copy.mp4"
    with SourceReader(source) as reader, open(out, "wb") as f:
        f.write(build_init(reader.init, {}))
        for n, data in enumerate(reader.fragments(), start=1):
            tracks = list(data.fragment.tracks.values())
            header, extents = build_fragment(n, tracks)
            f.write(header)
            for offset, length in extents:
                f.write(data.view(offset, length))
    assert packets(out) == packets(source)


def test_composition_offsets_and_per_sample_flags_round_trip() -> None:
    init = parse_init(_tiny_init())
    samples = TrackSamples(1, 123_456_789_012, [3600, 3600, 3600], [3, 4, 5], [0x02000000, 0x01010000, 0x02000000],
                           [7200, -3600, 0], offsets=[0, 3, 7])
    header, extents = build_fragment(9, [samples])
    assert extents == [(0, 12)]  # touching samples merge into one copy
    moof_size = struct.unpack(">I", header[:4])[0]
    parsed = parse_moof(header[:moof_size], 1000, init, 1000 + len(header) + 12)
    back = parsed.tracks[1]
    assert parsed.sequence == 9 and back.base_time == 123_456_789_012
    assert (back.durations, back.sizes, back.flags, back.ctos) == (
        samples.durations, samples.sizes, samples.flags, samples.ctos)
    assert back.offsets == [1000 + moof_size + 8 + o for o in (0, 3, 7)], "data follows the mdat header"


def test_edit_list_and_random_access_index(tmp_path: Path) -> None:
    init = read_init(write_fmp4(tmp_path / "a.mp4", 25))
    head = build_init(init, {1: 25_200})
    rebuilt = parse_init(head)
    assert rebuilt.signature == init.signature
    moov = rebuilt.moov
    trak = next(c for c in children(moov, 8, len(moov)) if c[0] == b"trak")
    kinds = [c[0] for c in children(moov, trak[2], trak[3])]
    assert kinds[:2] == [b"tkhd", b"edts"], "the edit list follows the track header"
    edts = next(c for c in children(moov, trak[2], trak[3]) if c[0] == b"edts")
    elst = children(moov, edts[2], edts[3])[0]
    version, count, duration, media_time = struct.unpack_from(">BxxxIQq", moov, elst[2])
    assert (version, count, duration, media_time) == (1, 1, 0, 25_200)
    with_length = build_init(init, {1: 0}, duration=4_240)
    moov = parse_init(with_length).moov
    mvex = next(c for c in children(moov, 8, len(moov)) if c[0] == b"mvex")
    mehd = children(moov, mvex[2], mvex[3])[0]
    assert mehd[0] == b"mehd" and struct.unpack_from(">BxxxQ", moov, mehd[2]) == (1, 4_240)
    mfra = build_mfra(1, [(0, 1000), (90_000, 5000)])
    assert mfra[4:8] == b"mfra" and struct.unpack(">I", mfra[-4:])[0] == len(mfra)


def test_garbage_is_refused() -> None:
    with pytest.raises(MediaError):
        parse_init(b"\x00\x00\x00\x10junkjunkjunk")
    with pytest.raises(MediaError):
        parse_init(b"")


def _tiny_init() -> bytes:
    """A minimal ftyp + moov with one 90 kHz video track (enough for parse_moof)."""
    from nvr.export_boxes import box, full_box

    tkhd = full_box(b"tkhd", 0, 3, struct.pack(">IIII", 0, 0, 1, 0), bytes(64))
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, 90_000, 0, 0, 0))
    hdlr = full_box(b"hdlr", 0, 0, struct.pack(">I4s", 0, b"vide"), bytes(13))
    stbl = box(b"stbl", full_box(b"stsd", 0, 0, struct.pack(">I", 0)))
    trak = box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, box(b"minf", stbl)))
    mvhd = full_box(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, 1000, 0), bytes(80))
    return box(b"ftyp", b"isom", bytes(4)) + box(b"moov", mvhd, trak)


def test_tiny_init_is_an_init() -> None:
    assert isinstance(parse_init(_tiny_init()), InitSegment)
