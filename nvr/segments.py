"""The last step of creating a segment: hash it, enter it in the catalog, tell plugins.

The recorder calls ``publish_segment`` after the file is written and fsynced
(file and folder), so a catalog row always names a complete file on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from nvr.models import Segment

if TYPE_CHECKING:
    from nvr.runtime import Runtime

_CHUNK = 1 << 20


def file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 hex digest of a file (blocking; run it in a thread)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


async def publish_segment(
    runtime: Runtime, camera: str, *, run_id: int, relpath: str, start_time: int, end_time: int,
    media_duration: int, frames: int, keyframes: int, codec: str,
    width: int | None = None, height: int | None = None,
) -> Segment:
    """Hash the file off the loop, insert its row, and fire ``segment_closed`` without waiting."""
    size, sha = await asyncio.to_thread(file_digest, runtime.config.storage.root / relpath)
    segment = await runtime.catalog.add_segment(
        run_id=run_id, start_time=start_time, end_time=end_time, media_duration=media_duration,
        path=relpath, size_bytes=size, sha256=sha, frames=frames, keyframes=keyframes, codec=codec,
        width=width, height=height,
    )
    runtime.plugins.notify("segment_closed", camera=camera, segment=segment, runtime=runtime)
    return segment
