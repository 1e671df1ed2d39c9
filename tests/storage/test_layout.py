"""Segment paths: UTC folders, round trip, and rejection of foreign names."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from nvr.storage.layout import parse_relpath, partial_path, segment_relpath


def test_round_trip_in_utc() -> None:
    wib = timezone(timedelta(hours=7))
    start = datetime(2026, 11, 23, 6, 59, 59, 123456, tzinfo=wib)  # 23:59:59 UTC the day before
    rel = segment_relpath("gate-1", start, 12, 3)
    assert rel == "gate-1/2026-11-22/23/20261122T235959.123456Z-r12-00003.mp4"
    camera, parsed, run, seq = parse_relpath(rel)
    assert (camera, parsed, run, seq) == ("gate-1", start, 12, 3)


def test_foreign_and_misfiled_names_are_not_segments() -> None:
    assert parse_relpath("gate-1/2026-11-22/23/notes.txt") is None
    assert parse_relpath("gate-1/2026-11-22/22/20261122T235959.123456Z-r12-00003.mp4") is None
    assert parse_relpath("20261122T235959.123456Z-r12-00003.mp4") is None


def test_partial_name(tmp_path) -> None:
    assert partial_path(tmp_path / "a.mp4").name == "a.mp4.part"
