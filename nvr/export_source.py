"""Read one recorded segment for export: its init, then its fragments in order, hashing every byte."""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from nvr.export_boxes import Fragment, InitSegment, MediaError, parse_init, parse_moof

__all__ = ["FragmentData", "SourceReader", "read_init"]

_HEAD = struct.Struct(">I4s")
_INIT_READ = 64 * 1024
_CHUNK = 4 * 1024 * 1024


@dataclass(slots=True)
class FragmentData:
    """A parsed fragment and its ``mdat`` bytes (``mdat_offset`` = file offset of ``mdat[0]``)."""

    fragment: Fragment
    mdat: bytes
    mdat_offset: int

    def view(self, offset: int, length: int) -> memoryview:
        """The bytes at file ``offset`` (inside the mdat)."""
        start = offset - self.mdat_offset
        if start < 8 or start + length > len(self.mdat):
            raise MediaError(f"sample data at {offset} lies outside its fragment's mdat")
        return memoryview(self.mdat)[start:start + length]


def read_init(path: Path) -> InitSegment:
    """The init segment (ftyp + moov) of ``path`` (blocking)."""
    with open(path, "rb") as f:
        data = f.read(_INIT_READ)
        init_end = _init_end(data)
        if init_end > len(data):
            data += f.read(init_end - len(data))
    return parse_init(data[:init_end])


def _init_end(data: bytes) -> int:
    pos = 0
    for _ in range(2):
        if pos + 8 > len(data):
            raise MediaError("file too short for ftyp + moov")
        size, _ = _HEAD.unpack_from(data, pos)
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
        if size < 8:
            raise MediaError(f"bad box size {size} at {pos}")
        pos += size
    return pos


class SourceReader:
    """Sequential reader of one segment file: ``init``, ``fragments()``, then ``finish()`` for size and SHA-256.

    Every byte of the file is hashed exactly once, in order, whether or not the
    export keeps it, so ``finish()`` proves the file still is what the catalog
    recorded.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size
        self._sha = hashlib.sha256()
        self._pos = 0
        head = self._pread(0, min(_INIT_READ, self.size))
        end = _init_end(head)
        if end > self.size:
            raise MediaError(f"{path}: moov runs past the end of the file")
        if end > len(head):
            head += self._pread(len(head), end - len(head))
        self.init = parse_init(head[:end])
        self._consume(head[:end])

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _pread(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        while len(data) < length:  # short reads are legal; a file that shrank is not
            more = os.pread(self._fd, length - len(data), offset + len(data))
            if not more:
                raise MediaError(f"{self.path}: file ended at {offset + len(data)}, expected {offset + length}")
            data += more
        return data

    def _consume(self, data: bytes) -> None:
        self._sha.update(data)
        self._pos += len(data)

    def _header(self, pos: int) -> tuple[bytes, int]:
        head = self._pread(pos, min(16, self.size - pos))
        if len(head) < 8:
            raise MediaError(f"{self.path}: truncated box header at {pos}")
        size, kind = _HEAD.unpack_from(head, 0)
        if size == 1 and len(head) >= 16:
            size = struct.unpack_from(">Q", head, 8)[0]
        elif size == 0:
            size = self.size - pos
        if size < 8 or pos + size > self.size:
            raise MediaError(f"{self.path}: box {kind!r} at {pos} has a bad size {size}")
        return kind, size

    def fragments(self) -> Iterator[FragmentData]:
        """Yield each fragment in file order; other top-level boxes are hashed and skipped."""
        while self._pos < self.size:
            pos = self._pos
            kind, size = self._header(pos)
            if kind != b"moof":
                self._skip(size)
                continue
            moof = self._pread(pos, size)
            self._consume(moof)
            if self._pos >= self.size:
                raise MediaError(f"{self.path}: moof at {pos} has no mdat")
            mkind, msize = self._header(self._pos)
            if mkind != b"mdat":
                raise MediaError(f"{self.path}: moof at {pos} is followed by {mkind!r}, not mdat")
            mdat_offset = self._pos
            mdat = self._pread(mdat_offset, msize)
            self._consume(mdat)
            yield FragmentData(parse_moof(moof, pos, self.init, mdat_offset + msize), mdat, mdat_offset)

    def scan(self) -> list[Fragment]:
        """Parse every ``moof`` of the file without reading media data or moving the hashing position."""
        out = []
        pos = self.init.size
        while pos < self.size:
            kind, size = self._header(pos)
            if kind == b"moof" and pos + size < self.size:
                mkind, msize = self._header(pos + size)
                if mkind != b"mdat":
                    raise MediaError(f"{self.path}: moof at {pos} is followed by {mkind!r}, not mdat")
                out.append(parse_moof(self._pread(pos, size), pos, self.init, pos + size + msize))
                size += msize
            pos += size
        return out

    def _skip(self, size: int) -> None:
        end = self._pos + size
        while self._pos < end:
            self._consume(self._pread(self._pos, min(_CHUNK, end - self._pos)))

    def finish(self) -> tuple[int, str]:
        """Hash what is left of the file; return ``(size, SHA-256 hex)`` of the whole file."""
        while self._pos < self.size:
            self._consume(self._pread(self._pos, min(_CHUNK, self.size - self._pos)))
        return self.size, self._sha.hexdigest()
