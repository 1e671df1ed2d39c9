"""The top-level MP4 box reader on real PyAV-written fragmented MP4, cut at many offsets."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import av
import pytest

from nvr.storage.fmp4 import iter_boxes, scan_fragments, truncate_to_complete_fragments
from tests.storage.media import write_fmp4


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-second file: ftyp, moov, three (moof, mdat) pairs, mfra."""
    return write_fmp4(tmp_path_factory.mktemp("fmp4") / "whole.mp4", frames=75)


def boxes(path: Path) -> list[tuple[str, int, int]]:
    with open(path, "rb") as f:
        return [tuple(b) for b in iter_boxes(f, path.stat().st_size)]


def demux_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(video=0) if p.size)


def test_layout_of_a_pyav_fragmented_file(whole: Path) -> None:
    types = [t for t, _, _ in boxes(whole)]
    assert types == ["ftyp", "moov", "moof", "mdat", "moof", "mdat", "moof", "mdat", "mfra"]
    found = boxes(whole)
    assert found[0][1] == 0 and found[-1][1] + found[-1][2] == whole.stat().st_size
    assert all(a[1] + a[2] == b[1] for a, b in zip(found, found[1:], strict=False))


def test_intact_file_is_kept_whole(whole: Path, tmp_path: Path) -> None:
    copy = tmp_path / "c.mp4"
    shutil.copy(whole, copy)
    scan = scan_fragments(copy)
    assert scan.intact and scan.fragments == 3 and scan.complete_end == scan.size
    assert truncate_to_complete_fragments(copy) == whole.stat().st_size
    assert copy.read_bytes() == whole.read_bytes()


def test_cut_at_every_interesting_offset(whole: Path, tmp_path: Path) -> None:
    """Cut inside and at the edges of every box: the result ends at the last whole fragment and plays."""
    found = boxes(whole)
    header_end = found[1][1] + found[1][2]
    fragment_ends = [o + s for t, o, s in found if t == "mdat"]
    offsets = {0, 1, 7, 8, 9}
    for _, off, size in found:
        offsets |= {off, off + 1, off + 8, off + size // 2, off + size - 1, off + size}
    size_total = whole.stat().st_size
    for cut in sorted(o for o in offsets if 0 <= o <= size_total):
        part = tmp_path / f"cut-{cut}.mp4.part"
        shutil.copy(whole, part)
        os.truncate(part, cut)
        kept = truncate_to_complete_fragments(part)
        if cut < header_end:
            assert kept is None, cut
            assert part.stat().st_size == cut  # left alone
            continue
        whole_fragments = [e for e in fragment_ends if e <= cut]
        expected = cut if cut == size_total else (whole_fragments[-1] if whole_fragments else header_end)
        assert kept == expected, cut
        assert part.stat().st_size == expected
        assert part.read_bytes() == whole.read_bytes()[:expected]
        if expected > header_end:
            assert demux_count(part) == 25 * len(whole_fragments), cut


def test_cut_mid_trailer_keeps_all_fragments(whole: Path, tmp_path: Path) -> None:
    mfra = boxes(whole)[-1]
    part = tmp_path / "t.mp4"
    shutil.copy(whole, part)
    os.truncate(part, mfra[1] + 10)
    assert truncate_to_complete_fragments(part) == mfra[1]
    assert demux_count(part) == 75


def test_zero_filled_tail_is_cut(whole: Path, tmp_path: Path) -> None:
    """After a power cut a file may end in zeros (allocated, never written): that is not a box."""
    found = boxes(whole)
    second_fragment_end = found[5][1] + found[5][2]
    part = tmp_path / "z.mp4"
    data = whole.read_bytes()[:second_fragment_end] + b"\0" * 40_000
    part.write_bytes(data)
    scan = scan_fragments(part)
    assert not scan.intact and scan.fragments == 2 and scan.cut_bytes == 40_000
    assert truncate_to_complete_fragments(part) == second_fragment_end
    assert demux_count(part) == 50


def test_moof_without_its_mdat(whole: Path, tmp_path: Path) -> None:
    found = boxes(whole)
    first_mdat_end = found[3][1] + found[3][2]
    moof2 = whole.read_bytes()[found[4][1]:found[4][1] + found[4][2]]
    part = tmp_path / "m.mp4"
    part.write_bytes(whole.read_bytes()[:first_mdat_end] + moof2 + moof2)
    assert truncate_to_complete_fragments(part) == first_mdat_end


def test_garbage_and_empty_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert truncate_to_complete_fragments(empty) is None
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(5000))
    assert truncate_to_complete_fragments(junk) is None
    assert junk.stat().st_size == 5000


def test_whole_file_in_another_layout_is_kept(tmp_path: Path) -> None:
    """A complete file whose boxes are not ftyp, moov, fragments (e.g. moov at the end) is not cut."""
    path = tmp_path / "plain.mp4"
    with av.open(str(path), "w", format="mp4") as out:  # ordinary MP4: ftyp, free, mdat, moov
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame(64, 48, "yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    size = path.stat().st_size
    assert [t for t, _, _ in boxes(path)][-1] == "moov"
    assert truncate_to_complete_fragments(path) == size
    assert path.stat().st_size == size


def test_64_bit_box_size(tmp_path: Path) -> None:
    path = tmp_path / "large.mp4"
    import struct

    ftyp = struct.pack(">I4s", 16, b"ftyp") + b"isom\0\0\0\0"
    moov = struct.pack(">I4sQ", 1, b"moov", 24) + b"\0" * 8
    path.write_bytes(ftyp + moov)
    assert [b[:3] for b in boxes(path)] == [("ftyp", 0, 16), ("moov", 16, 24)]
    assert scan_fragments(path).header_end == 40


def test_faststart_file_is_all_or_nothing(tmp_path: Path) -> None:
    """ftyp, moov, mdat (not fragmented): kept whole when intact, never cut to a 'fragment' when not."""
    path = tmp_path / "fast.mp4"
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame(64, 48, "yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    assert [t for t, _, _ in boxes(path)][:2] == ["ftyp", "moov"]
    size = path.stat().st_size
    assert truncate_to_complete_fragments(path) == size
    os.truncate(path, size - 10)
    assert truncate_to_complete_fragments(path) is None
    assert path.stat().st_size == size - 10
