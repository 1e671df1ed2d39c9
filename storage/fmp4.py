"""A tiny top-level MP4 box reader: find where a fragmented MP4 stops being complete, and cut it there."""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

__all__ = ["Box", "FragmentScan", "iter_boxes", "scan_fragments", "truncate_to_complete_fragments"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I4s")
_LARGE = struct.Struct(">Q")
# Boxes that may sit between or after fragments without belonging to one.
_STANDALONE = frozenset({"mfra", "free", "skip", "sidx", "styp", "prft", "emsg", "uuid", "meta"})


class Box(NamedTuple):
    """One top-level box: four-character type, file offset and total size (header included)."""

    type: str
    offset: int
    size: int

    @property
    def end(self) -> int:
        """Offset just past the box."""
        return self.offset + self.size


@dataclass(frozen=True)
class FragmentScan:
    """What a walk over a file's top-level boxes found.

    ``complete_end`` is the length of the longest prefix that is ftyp + moov +
    whole (moof, mdat) pairs (+ whole trailing boxes such as ``mfra``), or
    ``None`` when not even ftyp + moov are intact. A file laid out otherwise
    (not fragmented) is all or nothing: complete if its boxes, a moov among
    them, end exactly at end of file (``intact``), else ``None``.
    """

    size: int
    header_end: int | None
    complete_end: int | None
    fragments: int
    intact: bool

    @property
    def cut_bytes(self) -> int:
        """Bytes past ``complete_end`` (what a truncation would drop)."""
        return self.size - (self.complete_end if self.complete_end is not None else 0)


def _valid_type(raw: bytes) -> bool:
    return all(32 <= b < 127 for b in raw)


def iter_boxes(f: BinaryIO, size: int) -> Iterator[Box]:
    """Yield top-level boxes of a file of ``size`` bytes, stopping at the first unreadable header.

    A box whose declared size runs past ``size`` is still yielded (its ``end``
    is beyond the file), and the walk stops after it.
    """
    offset = 0
    while offset + _HEADER.size <= size:
        f.seek(offset)
        head = f.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        box_size, raw_type = _HEADER.unpack(head)
        header = _HEADER.size
        if box_size == 1:  # 64-bit size follows the type
            large = f.read(_LARGE.size)
            if len(large) < _LARGE.size:
                return
            box_size = _LARGE.unpack(large)[0]
            header += _LARGE.size
        elif box_size == 0:  # "to end of file": never written by our muxer, so treat it as damage
            return
        if box_size < header or not _valid_type(raw_type):
            return
        yield Box(raw_type.decode("ascii"), offset, box_size)
        offset += box_size


def scan_fragments(path: Path) -> FragmentScan:
    """Walk the top-level boxes of ``path`` (blocking; reads only box headers)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        boxes = list(iter_boxes(f, size))
    intact = bool(boxes) and boxes[-1].end == size
    header_end: int | None = None
    if len(boxes) >= 2 and boxes[0].type == "ftyp" and boxes[1].type == "moov" and boxes[1].end <= size:
        header_end = boxes[1].end
    rest = boxes[2:]
    first_media = next((box.type for box in rest if box.type not in _STANDALONE), "moof")
    if header_end is None or first_media != "moof":
        # Not laid out as we write (e.g. moov at the end, or moov then one mdat): whole or nothing.
        whole = intact and any(box.type == "moov" for box in boxes)
        return FragmentScan(size, header_end, size if whole else None, 0, intact)
    complete_end, fragments, moof_end = header_end, 0, None
    for box in rest:
        if box.end > size:
            break
        if box.type == "moof":
            if moof_end is not None:  # two moofs in a row: the first lost its mdat
                break
            moof_end = box.end
        elif box.type == "mdat" and moof_end is not None:
            complete_end, fragments, moof_end = box.end, fragments + 1, None
        elif box.type in _STANDALONE and moof_end is None:
            complete_end = box.end
        else:
            break
    return FragmentScan(size, header_end, complete_end, fragments, intact)


def truncate_to_complete_fragments(path: Path) -> int | None:
    """Cut ``path`` after its last complete fragment; return the bytes kept.

    Returns ``None`` (and leaves the file alone) when not even ftyp + moov are
    intact, or the file is not fragmented and not whole. The caller fsyncs
    (e.g. with ``durable_rename``).
    """
    scan = scan_fragments(path)
    if scan.complete_end is None:
        return None
    if scan.complete_end < scan.size:
        log.info("cutting %s from %d to %d bytes (incomplete last fragment)", path, scan.size, scan.complete_end)
        os.truncate(path, scan.complete_end)
    return scan.complete_end
