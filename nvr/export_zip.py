"""A streaming ZIP writer: stored (uncompressed) entries, ZIP64 throughout, resumable after the last entry.

Video does not compress, so entries are stored; ZIP64 sizes and offsets let
bundles pass 4 GiB. Each entry's local header is followed by its data and a
data descriptor (sizes and CRC-32 known only at the end), so nothing is
written twice and an interrupted bundle can be cut back to the end of its last
complete entry and continued (``ZipWriter(..., entries=...)``).
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["ZipEntry", "ZipWriter"]

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_DESCRIPTOR = struct.Struct("<IIQQ")
_ZIP64_EOCD = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_EOCD = struct.Struct("<IHHHHIIH")
_VERSION = 45  # ZIP64
_FLAGS = 0x0008 | 0x0800  # data descriptor; UTF-8 names
_MADE_BY = (3 << 8) | _VERSION  # Unix
_MODE = 0o100644 << 16
_MAX32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """A finished entry: where its local header starts, its data size and CRC-32."""

    name: str
    offset: int
    size: int
    crc: int
    dos_time: int
    dos_date: int

    def as_json(self) -> list[object]:
        return [self.name, self.offset, self.size, self.crc, self.dos_time, self.dos_date]

    @classmethod
    def from_json(cls, row: list[object]) -> ZipEntry:
        name, offset, size, crc, t, d = row
        return cls(str(name), int(offset), int(size), int(crc), int(t), int(d))  # type: ignore[arg-type]


def _dos(stamp: float) -> tuple[int, int]:
    tm = time.gmtime(max(stamp, 315532800))  # ZIP dates start in 1980
    return (tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec // 2), \
        ((tm.tm_year - 1980) << 9) | (tm.tm_mon << 5) | tm.tm_mday


class ZipWriter:
    """Write a ZIP through ``write(bytes)``; ``position`` is where the next byte goes.

    ``entries`` and ``position`` continue an archive whose bytes up to
    ``position`` are already written (resume after a crash).
    """

    def __init__(self, write: Callable[[bytes | memoryview], object], *, position: int = 0,
                 entries: Iterable[ZipEntry] = (), stamp: float | None = None) -> None:
        self._write = write
        self.position = position
        self.entries = list(entries)
        self._dos = _dos(time.time() if stamp is None else stamp)
        self._open: tuple[str, bytes, int] | None = None
        self._crc = 0
        self._size = 0

    def _out(self, data: bytes | memoryview) -> None:
        self._write(data)
        self.position += len(data)

    def begin(self, name: str) -> None:
        """Start an entry called ``name`` (a relative POSIX path)."""
        if self._open is not None:
            raise RuntimeError("previous ZIP entry not ended")
        if not name or name.startswith("/") or ".." in name.split("/") or "\\" in name:
            raise ValueError(f"bad ZIP entry name {name!r}")
        raw = name.encode("utf-8")
        extra = struct.pack("<HHQQ", 1, 16, 0, 0)
        header = _LOCAL.pack(0x04034B50, _VERSION, _FLAGS, 0, self._dos[0], self._dos[1], 0, _MAX32, _MAX32,
                             len(raw), len(extra))
        self._open = (name, raw, self.position)
        self._crc, self._size = 0, 0
        self._out(header + raw + extra)

    def write(self, data: bytes | memoryview) -> None:
        """Append to the open entry."""
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._out(data)

    def end(self) -> ZipEntry:
        """Finish the open entry with its data descriptor; return it."""
        if self._open is None:
            raise RuntimeError("no ZIP entry open")
        name, _, offset = self._open
        self._out(_DESCRIPTOR.pack(0x08074B50, self._crc, self._size, self._size))
        entry = ZipEntry(name, offset, self._size, self._crc, *self._dos)
        self.entries.append(entry)
        self._open = None
        return entry

    def add(self, name: str, data: bytes) -> ZipEntry:
        """A whole entry at once."""
        self.begin(name)
        self.write(data)
        return self.end()

    def close(self) -> None:
        """Write the central directory and the (ZIP64) end records."""
        if self._open is not None:
            raise RuntimeError("ZIP entry still open")
        start = self.position
        for e in self.entries:
            raw = e.name.encode("utf-8")
            extra = struct.pack("<HHQQQ", 1, 24, e.size, e.size, e.offset)
            self._out(_CENTRAL.pack(0x02014B50, _MADE_BY, _VERSION, _FLAGS, 0, e.dos_time, e.dos_date, e.crc,
                                    _MAX32, _MAX32, len(raw), len(extra), 0, 0, 0, _MODE, _MAX32) + raw + extra)
        size = self.position - start
        eocd64 = self.position
        count = len(self.entries)
        self._out(_ZIP64_EOCD.pack(0x06064B50, 44, _MADE_BY, _VERSION, 0, 0, count, count, size, start))
        self._out(_ZIP64_LOCATOR.pack(0x07064B50, 0, eocd64, 1))
        self._out(_EOCD.pack(0x06054B50, 0, 0, min(count, 0xFFFF), min(count, 0xFFFF), _MAX32, _MAX32, 0))
