"""Groups plate reads into vehicles: by vehicle track id, or (without a vehicle model) by place and text."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
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

FOLD_MAX_READS = 2
"""A group of at most this many reads, closing, may be a garbled read of another group's plate (below)..."""
FOLD_HOST_READS = 2
"""...of a group with at least this many reads, and more than it has, open or closing at the same time..."""
FOLD_WIDTHS = SAME_PLACE_WIDTHS
"""...when each of its reads lies inside that group's time span, less than this many of its plate widths from
where its plate was then (between its reads before and after, constant velocity), with no read of that group in
the same frame (two lines of one frame are two plates)..."""
FOLD_INVENTED_CHARS = 1
"""...and its plate is that group's with part of it hidden and at most this many characters invented (``B 17`` of
``B 1234 XYZ``: ``B 1`` seen, a walker's leg read as ``7``). Then it is folded into that group's sighting (its reads
counted, and listed as alternatives, but not voting) instead of being a sighting of its own. Measured on the street
scene at 640x360, a 25 fps render analysed at 2 fps: the walker crossing in front of the plate car made the reader
return ``B 17`` between two whole reads of ``B 1234 XYZ`` half a second apart, 0.2 plate widths from where the plate
was; six edits from it, and next to a group of one read (no motion known) it became its own sighting in 16 of 200
frame patterns (0 after this rule). One plate is in one place: another car's plate is not where this one was at the
same moment, and a different plate is not this one's characters in order; a plate read again after its group closed
has no open group around it and stays a sighting of its own."""

_ids = itertools.count(1)


@dataclass
class Group:
    """The reads of one vehicle so far."""

    key: int
    track_id: int | None
    reads: list[Observation] = field(default_factory=list)
    first_us: int = 0
    last_us: int = 0
    folded: list[Observation] = field(default_factory=list)
    """Reads of groups folded into this one: garbled reads of its plate (``FOLD_INVENTED_CHARS``)."""

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


def is_garbled(part: str, whole: str) -> bool:
    """Is plate key ``part`` what is left of ``whole`` with some of it hidden and at most ``FOLD_INVENTED_CHARS``
    characters invented (``B 17`` of ``B 1234 XYZ``), or ``whole`` with that many characters invented?"""
    candidates = {part}
    for _ in range(FOLD_INVENTED_CHARS):
        candidates |= {c[:i] + c[i + 1:] for c in candidates for i in range(len(c))}
    return any(c == whole or is_hidden(c, whole) for c in candidates if c)


def _where(group: Group, time_us: int) -> tuple[float, float, float] | None:
    """Where the group's plate was at ``time_us`` (centre x, y and plate width, between its reads before and after),
    or None outside its time span or when it has a read in that very frame."""
    before = max((o for o in group.reads if o.time_us <= time_us), key=lambda o: o.time_us, default=None)
    after = min((o for o in group.reads if o.time_us >= time_us), key=lambda o: o.time_us, default=None)
    if before is None or after is None or before.time_us == time_us or after.time_us == time_us:
        return None
    (bx, by), (ax, ay) = _centre(before), _centre(after)
    k = (time_us - before.time_us) / (after.time_us - before.time_us)
    width = max(1.0, before.box[2] - before.box[0], after.box[2] - after.box[0])
    return bx + (ax - bx) * k, by + (ay - by) * k, width


def _fold_gap(weak: Group, host: Group) -> float | None:
    """The largest distance, in plate widths, of the weak group's reads from where the host's plate was then; None
    when it cannot be a garbled read of the host's plate (``FOLD_MAX_READS`` ... ``FOLD_INVENTED_CHARS``)."""
    if host is weak or len(host.reads) < max(FOLD_HOST_READS, len(weak.reads) + 1):
        return None
    leading = host.leading_key()
    if not all(is_garbled(o.read.plate.key, leading) for o in weak.reads):
        return None
    worst = 0.0
    for o in weak.reads:
        where = _where(host, o.time_us)
        if where is None:
            return None
        x, y, width = where
        ox, oy = _centre(o)
        worst = max(worst, ((ox - x) ** 2 + (oy - y) ** 2) ** 0.5 / width)
    return worst if worst < FOLD_WIDTHS else None


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

    def _host(self, weak: Group) -> Group | None:
        """The open group (closing now or not) that ``weak``, closing, is a garbled read of, if any."""
        if weak.track_id is not None or len(weak.reads) > FOLD_MAX_READS:
            return None
        best: tuple[float, Group] | None = None
        for group in self.groups.values():
            if group.track_id is not None:
                continue
            gap = _fold_gap(weak, group)
            if gap is not None and (best is None or gap < best[0]):
                best = (gap, group)
        return best[1] if best else None

    def _close(self, groups: list[Group]) -> list[Sighting]:
        out, closing = [], []
        for group in sorted(groups, key=lambda g: len(g.reads)):  # the weak first: their host may close now too
            host = self._host(group)
            del self.groups[group.key]
            if host is not None:
                host.folded += group.reads + group.folded
            else:
                closing.append(group)
        for group in closing:
            if len(group.reads) >= self.min_reads:
                out.append(_sighting(group))
        return out


def _sighting(group: Group) -> Sighting:
    """The group's vote; reads folded into it count and are listed as alternatives, but do not vote."""
    sighting = vote(group.reads)
    if not group.folded:
        return sighting
    spelled = Counter(dict(sighting.alternatives))
    spelled.update(o.read.plate.text for o in group.folded if o.read.plate != sighting.plate)
    return dataclasses.replace(sighting, reads=sighting.reads + len(group.folded),
                               alternatives=tuple(spelled.most_common(5)))
