"""Groups plate reads into vehicles: by vehicle track id, or (without a vehicle model) by place and text."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from nvr.plate_text import plate_distance

from .reader import Observation
from .vote import Sighting, vote

TEXT_MATCH = 1.0
"""Reads this close in weighted edit distance belong to the same vehicle wherever they are."""
NEAR_TEXT_MATCH = 3.0
"""Reads near the group's last box join it when their text is at least this close."""
NEAR_WIDTHS = 4.0
"""Near means: centres less than this many plate widths apart."""

_ids = itertools.count(1)


@dataclass
class Group:
    """The reads of one vehicle so far."""

    key: int
    track_id: int | None
    reads: list[Observation] = field(default_factory=list)
    first_us: int = 0
    last_us: int = 0

    def add(self, obs: Observation) -> None:
        if not self.reads:
            self.first_us = obs.time_us
        self.reads.append(obs)
        self.last_us = max(self.last_us, obs.time_us)

    def leading_key(self) -> str:
        return max(self.reads, key=lambda o: o.read.confidence).read.plate.key


def _centre_gap(a: Observation, b: Observation) -> float:
    """Distance between two plate boxes' centres, in plate widths."""
    ax, ay = (a.box[0] + a.box[2]) / 2, (a.box[1] + a.box[3]) / 2
    bx, by = (b.box[0] + b.box[2]) / 2, (b.box[1] + b.box[3]) / 2
    width = max(1.0, a.box[2] - a.box[0], b.box[2] - b.box[0])
    return ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5 / width


class PlateGrouper:
    """Open groups of one camera; a group closes when unseen for ``end_after_us`` or open for ``max_open_us``."""

    def __init__(self, end_after_us: int, max_open_us: int, min_reads: int = 1) -> None:
        self.end_after_us, self.max_open_us, self.min_reads = end_after_us, max_open_us, min_reads
        self.groups: dict[int, Group] = {}

    def add(self, reads: list[Observation]) -> None:
        """File the reads of one frame; two reads of one frame never join the same plate-less group."""
        taken: set[int] = set()
        for obs in reads:
            group = self._match(obs, taken)
            if group is None:
                group = Group(next(_ids), obs.track_id)
                self.groups[group.key] = group
            taken.add(group.key)
            group.add(obs)

    def _match(self, obs: Observation, taken: set[int]) -> Group | None:
        if obs.track_id is not None:
            return next((g for g in self.groups.values() if g.track_id == obs.track_id), None)
        best: tuple[float, Group] | None = None
        for group in self.groups.values():
            if group.key in taken or group.track_id is not None:
                continue
            if obs.time_us - group.last_us > self.end_after_us:
                continue
            text = plate_distance(obs.read.plate.key, group.leading_key())
            near = _centre_gap(obs, group.reads[-1])
            if text <= TEXT_MATCH or (near <= NEAR_WIDTHS and text <= NEAR_TEXT_MATCH):
                score = text + near / NEAR_WIDTHS
                if best is None or score < best[0]:
                    best = (score, group)
        return best[1] if best else None

    def expire(self, now_us: int) -> list[Sighting]:
        """Close the groups that ended (unseen for end_after_us) or ran too long; vote each into a sighting."""
        done = [g for g in self.groups.values()
                if now_us - g.last_us > self.end_after_us or g.last_us - g.first_us >= self.max_open_us]
        return self._close(done)

    def end_track(self, track_id: int) -> list[Sighting]:
        """The vehicle track ended: close its group now."""
        return self._close([g for g in self.groups.values() if g.track_id == track_id])

    def flush(self) -> list[Sighting]:
        """Close every group (shutdown, end of a benchmark video)."""
        return self._close(list(self.groups.values()))

    def _close(self, groups: list[Group]) -> list[Sighting]:
        out = []
        for group in groups:
            del self.groups[group.key]
            if len(group.reads) >= self.min_reads:
                out.append(vote(group.reads))
        return out
