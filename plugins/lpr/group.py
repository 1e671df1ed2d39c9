"""Groups plate reads into vehicles: by vehicle track id, or (without a vehicle model) by place and text."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from nvr.plate_text import plate_distance

from .reader import Observation
from .vote import Sighting, is_hidden, vote

TEXT_MATCH = 1.0
"""Reads this close in weighted edit distance belong to the same vehicle wherever they are."""
NEAR_TEXT_MATCH = 2.0
"""A read near where the group's plate should be now joins it when its text is at least this close."""
NEAR_WIDTHS = 2.0
"""Near means: less than this many plate widths from where the plate should be, moving as it moved..."""
NEAR_WIDTHS_FIRST = 4.0
"""...or from where it was, for a group of one read (no motion known yet)."""
SAME_PLACE_WIDTHS = 1.0
"""A read less than this many plate widths from where a moving group's plate should be now joins it whatever
its text: one plate is in one place, and a garbled read of it (small, blurred plates) is still that car's."""
HIDDEN_TEXT_MATCH = NEAR_TEXT_MATCH
"""A read whose plate is the group's leading plate with part of it hidden (its characters in order, fewer:
``B 1234`` or ``B 12 YZ`` of ``B 1234 XYZ``), or the other way round (the hidden read came first), counts as
this close in text: it joins a group near where the group's plate is or was (``NEAR_WIDTHS`` from where a moving
plate should be, ``NEAR_WIDTHS_FIRST`` from a group's only read, or that far from the last read) instead of
becoming a sighting of a plate nobody drove. Measured on the street scene at 640x360: a walker crossing in front
of the plate car hides the suffix for a frame or two and the reader returns ``B 1234`` (its box ends at the
walker, 43 px short of where the whole line ends), half a plate width from the whole plate's last read; three
edits from it and with one read in the group (no motion known), it used to become its own sighting. A car that
really is ``B 1234``, elsewhere or after the group ended, is still a sighting of its own."""

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
        """The key of the most confident read, among the reads whose plate is not another read's with part of it
        hidden (once ``B 1234 XYZ`` is seen, ``B 1234`` never leads)."""
        keys = {o.read.plate.key for o in self.reads}
        whole = {k for k in keys if not any(is_hidden(k, other) for other in keys)}
        return max((o for o in self.reads if o.read.plate.key in whole), key=lambda o: o.read.confidence).read.plate.key


def _centre(o: Observation) -> tuple[float, float]:
    return (o.box[0] + o.box[2]) / 2, (o.box[1] + o.box[3]) / 2


def _gap(obs: Observation, group: Group) -> tuple[float, float, float]:
    """How far ``obs`` is from where the group's plate should be now and from where it was last seen, in plate
    widths, and the allowance."""
    last = group.reads[-1]
    x, y = lx, ly = _centre(last)
    allowance = NEAR_WIDTHS_FIRST
    earlier = next((o for o in reversed(group.reads[:-1]) if o.time_us < last.time_us), None)
    if earlier is not None:  # constant velocity since the read before
        ex, ey = _centre(earlier)
        k = (obs.time_us - last.time_us) / (last.time_us - earlier.time_us)
        x, y = x + (x - ex) * k, y + (y - ey) * k
        allowance = NEAR_WIDTHS
    ox, oy = _centre(obs)
    width = max(1.0, obs.box[2] - obs.box[0], last.box[2] - last.box[0])
    return (((ox - x) ** 2 + (oy - y) ** 2) ** 0.5 / width, ((ox - lx) ** 2 + (oy - ly) ** 2) ** 0.5 / width,
            allowance)


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
            key, leading = obs.read.plate.key, group.leading_key()
            text = plate_distance(key, leading)
            gap, was, allowance = _gap(obs, group)
            moving = allowance == NEAR_WIDTHS
            if text > HIDDEN_TEXT_MATCH and (is_hidden(key, leading) or is_hidden(leading, key)):
                text, gap = HIDDEN_TEXT_MATCH, min(gap, was)  # part hidden: near where the plate is or was
            if text <= TEXT_MATCH or (gap <= allowance and text <= NEAR_TEXT_MATCH) or (
                    moving and gap <= SAME_PLACE_WIDTHS):
                score = text + gap / allowance
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
