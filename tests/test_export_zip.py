"""The streaming ZIP writer: readable by zipfile and unzip, ZIP64 sizes, resumable after its last entry."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from nvr.export_zip import ZipEntry, ZipWriter


def test_entries_read_back_with_zipfile(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with open(path, "wb") as f:
        z = ZipWriter(f.write, stamp=1_714_557_600)
        z.begin("clips/a.mp4")
        for _ in range(100):
            z.write(memoryview(b"x" * 1000))
        z.end()
        z.add("manifest.json", "{\"ok\": \"ya\u00e9\"}".encode())
        z.close()
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert archive.read("clips/a.mp4") == b"x" * 100_000
        info = archive.getinfo("manifest.json")
        assert info.compress_type == zipfile.ZIP_STORED and info.date_time == (2024, 5, 1, 10, 0, 0)
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-tq", str(path)], check=True, capture_output=True)


def test_resume_after_the_last_complete_entry(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with open(path, "wb") as f:
        z = ZipWriter(f.write)
        z.add("one", b"1" * 10)
        position, entries = z.position, [e.as_json() for e in z.entries]
        z.begin("two")
        z.write(b"interrupted")  # the process dies here
    with open(path, "r+b") as f:
        f.truncate(position)
        f.seek(position)
        z = ZipWriter(f.write, position=position, entries=[ZipEntry.from_json(e) for e in entries])
        z.add("two", b"2" * 20)
        z.close()
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["one", "two"] and archive.read("two") == b"2" * 20


def test_bad_names_are_refused() -> None:
    z = ZipWriter(io.BytesIO().write)
    for name in ("../evil", "/abs", "a\\b", ""):
        with pytest.raises(ValueError):
            z.begin(name)


def test_zip64_fields_for_big_offsets() -> None:
    """An entry placed past 4 GiB (as in a long multi-camera bundle) keeps its 64-bit offset."""
    sink = io.BytesIO()
    z = ZipWriter(sink.write, position=5 << 30)
    z.add("late", b"data")
    z.close()
    raw = sink.getvalue()
    assert (5 << 30).to_bytes(8, "little") in raw  # local header offset in the central directory's ZIP64 extra
