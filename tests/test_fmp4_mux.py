"""The fMP4 box writer: init segment layout, fragment offsets and flags, read back by PyAV and our checker."""

from __future__ import annotations

import struct
from pathlib import Path

import av

from nvr.fmp4_mux import (
    AUDIO_TRACK,
    KEY_FLAGS,
    NON_KEY_FLAGS,
    VIDEO_TRACK,
    AudioEntry,
    TrackRun,
    VideoEntry,
    fragment,
    init_segment,
)
from nvr.h26x import avcc_record
from nvr.parameter_sets import describe
from nvr.storage.fmp4 import scan_fragments
from tests.test_segment_writer import assert_fragmented_mp4, boxes, clip_units


def children(data: bytes, path: list[str]) -> tuple[int, int]:
    """(offset, size) of the box at ``path`` (e.g. ["moov", "trak", "mdia"]); containers are walked."""
    start, end = 0, len(data)
    for name in path:
        kind, offset, size = next(b for b in boxes(data, start, end) if b[0] == name)
        start, end = offset + 8, offset + size
    return start - 8, end - start + 8


def test_init_segment_layout() -> None:
    units = clip_units("sub")
    params = describe("h264", units[0].params or ())
    video = VideoEntry(b"avc1", 640, 360, avcc_record(params.nals, params.info))
    head = init_segment(video, AudioEntry(b"alaw", 8000, 1))
    assert [k for k, _, _ in boxes(head)] == ["ftyp", "moov"]
    moov = children(head, ["moov"])
    assert [k for k, _, _ in boxes(head, moov[0] + 8, moov[0] + moov[1])] == ["mvhd", "trak", "trak", "mvex"]
    stbl = children(head, ["moov", "trak", "mdia", "minf", "stbl"])
    assert [k for k, _, _ in boxes(head, stbl[0] + 8, stbl[0] + stbl[1])] == ["stsd", "stts", "stsc", "stsz", "stco"]
    mvex = children(head, ["moov", "mvex"])
    assert [k for k, _, _ in boxes(head, mvex[0] + 8, mvex[0] + mvex[1])] == ["trex", "trex"]
    assert b"avcC" in head and b"alaw" in head


def test_fragment_offsets_point_at_the_samples(tmp_path: Path) -> None:
    units = clip_units("sub")[:50]
    params = describe("h264", units[0].params or ())
    video = VideoEntry(b"avc1", 640, 360, avcc_record(params.nals, params.info))
    out = [init_segment(video, AudioEntry(b"ulaw", 8000, 1))]
    for number, start in enumerate((0, 25), start=1):
        vrun, arun = TrackRun(VIDEO_TRACK, start * 3600), TrackRun(AUDIO_TRACK, start * 320)
        for unit in units[start:start + 25]:
            vrun.add(unit.data, 3600)
            arun.add(bytes([0xFF]) * 320, 320)
        buffers = fragment(number, vrun, arun)
        moof = buffers[0]
        trun = moof.index(b"trun") - 4
        count, offset, first_flags = struct.unpack(">IiI", moof[trun + 12:trun + 24])
        assert (count, first_flags) == (25, KEY_FLAGS)
        assert offset == len(moof) + 8, "the first video sample right after the mdat header"
        assert struct.unpack(">I", moof[moof.index(b"tfhd") + 12:moof.index(b"tfhd") + 16])[0] == NON_KEY_FLAGS
        out += buffers
    path = tmp_path / "seg.mp4"
    path.write_bytes(b"".join(out))
    assert_fragmented_mp4(path.read_bytes(), fragments=2)
    assert scan_fragments(path).fragments == 2
    with av.open(str(path)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
        assert [bytes(p) for p in packets] == [u.data for u in units]
        assert [p.is_keyframe for p in packets] == [i % 25 == 0 for i in range(50)]
        container.seek(0)
        assert sum(f.samples for f in container.decode(audio=0)) == 50 * 320
    assert fragment(3, TrackRun(VIDEO_TRACK, 0), None) == []
