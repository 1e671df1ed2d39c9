"""One camera's plate pipeline: where to look in a frame, read, group the reads, vote closed groups."""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from nvr.detection import AnalysedFrame

from .group import PlateGrouper
from .reader import Observation, PlateReader, Region
from .static_text import StaticText
from .vote import Sighting

RegionMode = Literal["auto", "vehicles", "motion", "full_frame"]


def regions_of(frame: AnalysedFrame, mode: RegionMode, vehicle_labels: Collection[str]) -> list[Region] | None:
    """Candidate regions: vehicle tracks (``vehicles``, or ``auto`` when any is tracked), else the motion box,
    else the full frame (``None``). An empty list means: nothing to look at in this frame."""
    vehicles = [Region(t.box, t.track_id) for t in frame.tracks if t.label in vehicle_labels]
    if mode == "vehicles" or (mode == "auto" and vehicles):
        return vehicles
    if mode in ("auto", "motion") and frame.motion_box is not None:
        return [Region(frame.motion_box)]
    return None


class CameraPlates:
    """Reads, groups and votes the plates of one camera; call from one thread."""

    def __init__(self, reader: PlateReader, *, mode: RegionMode, vehicle_labels: Collection[str],
                 end_after_us: int, max_open_us: int, min_reads: int) -> None:
        self.reader, self.mode, self.vehicle_labels = reader, mode, frozenset(vehicle_labels)
        self.grouper = PlateGrouper(end_after_us, max_open_us, min_reads)
        self.static = StaticText()

    def process(self, frame: AnalysedFrame) -> tuple[list[Observation], list[Sighting]]:
        """Read one frame; return its reads and the sightings of groups that closed before it."""
        closed = self.grouper.expire(frame.time_us)
        regions = regions_of(frame, self.mode, self.vehicle_labels)
        reads = [] if regions == [] else self.reader.read(frame.rgb, frame.time_us, regions, self.static)
        self.grouper.add(reads)
        return reads, closed

    def tick(self, now_us: int) -> list[Sighting]:
        """No frame came for a while: close the groups that ended."""
        return self.grouper.expire(now_us)

    def flush(self) -> list[Sighting]:
        return self.grouper.flush()
