"""Where footage lives under the storage root: one folder per camera, then UTC date and hour."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

SEGMENT_SUFFIX = ".mp4"
PARTIAL_SUFFIX = ".part"
"""A segment being written is ``<name>.mp4.part``; it is renamed when closed and fsynced."""
QUARANTINE_DIR = ".quarantine"
"""Files recovery could not index are moved here (relative to the root), never deleted."""

_NAME = re.compile(r"^(?P<ts>\d{8}T\d{6}\.\d{6})Z-r(?P<run>\d+)-(?P<seq>\d+)\.mp4$")


def segment_relpath(camera: str, start: datetime, run_id: int, seq: int) -> str:
    """``<camera>/<YYYY-MM-DD>/<HH>/<YYYYmmddTHHMMSS.ffffff>Z-r<run>-<seq>.mp4`` (UTC)."""
    start = start.astimezone(timezone.utc)
    return (f"{camera}/{start:%Y-%m-%d}/{start:%H}/"
            f"{start:%Y%m%dT%H%M%S.%f}Z-r{run_id}-{seq:05d}{SEGMENT_SUFFIX}")


def partial_path(final: Path) -> Path:
    """The name a segment has while it is being written."""
    return final.with_name(final.name + PARTIAL_SUFFIX)


def parse_relpath(relpath: str) -> tuple[str, datetime, int, int] | None:
    """Inverse of ``segment_relpath``: (camera, start, run id, seq), or None if it is not one of ours."""
    parts = PurePosixPath(relpath).parts
    if len(parts) != 4:
        return None
    match = _NAME.match(parts[3])
    if not match:
        return None
    start = datetime.strptime(match["ts"], "%Y%m%dT%H%M%S.%f").replace(tzinfo=timezone.utc)
    if parts[1] != f"{start:%Y-%m-%d}" or parts[2] != f"{start:%H}":
        return None
    return parts[0], start, int(match["run"]), int(match["seq"])
