"""A camera's recorder counters as of now, for pages, the JSON API and /metrics.

``CameraStatus.stats`` is the snapshot taken when the recorder started (``RecorderStats`` is frozen), so the
web reads the running recorder's ``stats`` property instead, and falls back to the snapshot.
"""

from __future__ import annotations

import dataclasses

from nvr.camera_worker import CameraStatus
from nvr.recorder_events import RecorderStats
from nvr.runtime import Runtime


def current_stats(runtime: Runtime, status: CameraStatus) -> RecorderStats | None:
    """The live counters of ``status``'s camera, or its last snapshot when no recorder runs."""
    worker = runtime.cameras.worker(status.name) if runtime.cameras is not None else None
    recorder = getattr(worker, "recorder", None)
    return recorder.stats if recorder is not None else status.stats


def fresh(runtime: Runtime, status: CameraStatus) -> CameraStatus:
    """A copy of ``status`` carrying the live counters (the original is left alone)."""
    stats = current_stats(runtime, status)
    return status if stats is status.stats else dataclasses.replace(status, stats=stats)
