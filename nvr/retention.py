"""Retention planning: which segments to delete and why, as one pure function."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Final, Literal, NamedTuple

from nvr.models import Hold

__all__ = [
    "DAY_US",
    "REASONS",
    "CameraRule",
    "Candidate",
    "Deletion",
    "Disk",
    "Plan",
    "Reason",
    "days_us",
    "plan_deletions",
]

DAY_US: Final = 86_400 * 1_000_000

Reason = Literal["age", "cap", "floor"]
REASONS: Final[tuple[Reason, ...]] = ("age", "cap", "floor")


def days_us(days: float) -> int:
    """``days`` as whole microseconds (config allows fractional days)."""
    return round(days * DAY_US)


class Candidate(NamedTuple):
    """A segment retention may delete: wall-clock span ``[start, end)`` in UTC µs, size in bytes."""

    id: int
    camera: str
    start: int
    end: int
    size: int


@dataclass(frozen=True, slots=True)
class CameraRule:
    """One camera's retention settings plus its current total of stored bytes.

    ``max_bytes`` ``None`` means no size cap. ``total_bytes`` only matters
    with a cap.
    """

    retain_days: float
    event_retain_days: float
    max_bytes: int | None = None
    total_bytes: int = 0

    def age_cutoff(self, now_us: int) -> int:
        """Segments ending at or before this are older than ``retain_days``."""
        return now_us - days_us(self.retain_days)

    def event_cutoff(self, now_us: int) -> int:
        """Segments ending at or before this are past event retention too (the longer of the two)."""
        return now_us - days_us(max(self.retain_days, self.event_retain_days))


@dataclass(frozen=True, slots=True)
class Disk:
    """The storage filesystem: total and free bytes, and the free-space floor."""

    total_bytes: int
    free_bytes: int
    floor_bytes: int


class Deletion(NamedTuple):
    """One planned deletion and the rule that chose it."""

    id: int
    camera: str
    start: int
    size: int
    reason: Reason


@dataclass(frozen=True, slots=True)
class Plan:
    """What a sweep deletes and what it could not do.

    ``deletions`` come by rule (age, cap, floor) and, within a rule and a
    camera, oldest first (the floor's are oldest first across cameras).

    ``held`` lists candidates a rule chose but an active hold kept.
    ``floor_shortfall_bytes`` is how far free space stays below the floor
    after the plan (0 when the floor is met or was never crossed); with the
    candidates given, nothing more can be freed, so a positive value means the
    floor is unreachable unless the caller has older, unheld footage to offer.
    """

    deletions: tuple[Deletion, ...] = ()
    held: tuple[int, ...] = ()
    floor_needed: bool = False
    floor_shortfall_bytes: int = 0
    floor_held_bytes: int = 0
    cap_unreachable: tuple[str, ...] = ()
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def ids(self) -> list[int]:
        """Ids of the segments to delete, in plan order."""
        return [d.id for d in self.deletions]

    @property
    def freed_bytes(self) -> int:
        """Bytes the plan frees."""
        return sum(d.size for d in self.deletions)

    @property
    def floor_unreachable(self) -> bool:
        """True if free space stays below the floor after the plan."""
        return self.floor_shortfall_bytes > 0


class _Spans:
    """Merged, sorted time spans answering "does ``[a, b)`` overlap any of them?" in O(log n)."""

    __slots__ = ("ends", "starts")

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        for start, end in sorted(spans):
            if end <= start:
                continue
            if self.ends and start <= self.ends[-1]:
                self.ends[-1] = max(self.ends[-1], end)
            else:
                self.starts.append(start)
                self.ends.append(end)

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect_left(self.starts, end) - 1
        return i >= 0 and self.ends[i] > start


_BY_START_ID = attrgetter("start", "id")


def _hold_spans(holds: Iterable[Hold], cameras: Iterable[str], now_us: int) -> dict[str, _Spans]:
    """Active holds per camera (half-open windows; a hold on all cameras joins each camera's list)."""
    shared: list[tuple[int, int]] = []
    own: dict[str, list[tuple[int, int]]] = {}
    for hold in holds:
        if not hold.is_active(now_us):
            continue
        span = (hold.start_time, hold.end_time)
        if hold.camera_name is None:
            shared.append(span)
        else:
            own.setdefault(hold.camera_name, []).append(span)
    if not shared and not own:
        return {}
    return {cam: _Spans(shared + own.get(cam, [])) for cam in cameras}


def plan_deletions(
    segments: Iterable[Candidate],
    rules: Mapping[str, CameraRule],
    holds: Iterable[Hold],
    event_windows: Mapping[str, Sequence[tuple[int, int]]],
    now_us: int,
    disk: Disk | None = None,
) -> Plan:
    """Decide which candidate segments to delete, and why; no I/O, no clock.

    Rules, applied in this order (a segment goes for the first rule that
    picks it):

    * **age**: a segment whose ``end <= now - retain_days`` goes, unless it
      overlaps one of its camera's ``event_windows`` and ends after
      ``now - max(retain_days, event_retain_days)``. Event windows are closed
      ``[start, end]``: an event that ends exactly where a segment starts
      still keeps it.
    * **cap**: while a camera's ``total_bytes`` minus what is already planned
      exceeds ``max_bytes``, its oldest remaining candidates go (events do not
      protect against a cap). Candidates for a camera must be its oldest
      segments for this to delete the right ones.
    * **floor**: if ``disk.free_bytes < disk.floor_bytes``, the oldest
      remaining candidates of any camera go until the free space plus the
      bytes planned so far reaches the floor.

    A segment overlapping an active hold (``Hold.is_active(now_us)``; windows
    half-open, so merely touching does not protect) is never deleted by any
    rule. Cameras with no entry in ``rules`` are left to the floor alone.
    Duplicate candidate ids are considered once.
    """
    by_camera: dict[str, list[Candidate]] = {}
    seen: set[int] = set()
    for cand in segments:
        if cand.id not in seen:
            seen.add(cand.id)
            by_camera.setdefault(cand.camera, []).append(cand)
    for cands in by_camera.values():
        cands.sort(key=_BY_START_ID)
    held_spans = _hold_spans(holds, by_camera, now_us)

    chosen: set[int] = set()
    deletions: list[Deletion] = []
    held: set[int] = set()
    cap_unreachable: list[str] = []
    planned_bytes = 0

    for camera, cands in by_camera.items():
        rule = rules.get(camera)
        if rule is None:
            continue
        hold_overlaps = held_spans[camera].overlaps if camera in held_spans else None
        age_cutoff, event_cutoff = rule.age_cutoff(now_us), rule.event_cutoff(now_us)
        windows = event_windows.get(camera)
        event_overlaps = _Spans((s, max(e, s) + 1) for s, e in windows).overlaps if windows else None
        freed = 0
        for c in cands:
            if c.end > age_cutoff:
                continue
            if event_overlaps is not None and c.end > event_cutoff and event_overlaps(c.start, c.end):
                continue
            if hold_overlaps is not None and hold_overlaps(c.start, c.end):
                held.add(c.id)
                continue
            chosen.add(c.id)
            deletions.append(Deletion(c.id, camera, c.start, c.size, "age"))
            freed += c.size
        if rule.max_bytes is not None and rule.total_bytes - freed > rule.max_bytes:
            for c in cands:
                if rule.total_bytes - freed <= rule.max_bytes:
                    break
                if c.id in chosen:
                    continue
                if hold_overlaps is not None and hold_overlaps(c.start, c.end):
                    held.add(c.id)
                    continue
                chosen.add(c.id)
                deletions.append(Deletion(c.id, camera, c.start, c.size, "cap"))
                freed += c.size
            if rule.total_bytes - freed > rule.max_bytes:
                cap_unreachable.append(camera)
        planned_bytes += freed

    floor_needed = disk is not None and disk.free_bytes < disk.floor_bytes
    shortfall = floor_held = 0
    if disk is not None and floor_needed:
        free = disk.free_bytes + planned_bytes
        if free < disk.floor_bytes:
            rest = sorted((c for cands in by_camera.values() for c in cands if c.id not in chosen),
                          key=_BY_START_ID)
            for c in rest:
                if free >= disk.floor_bytes:
                    break
                if c.camera in held_spans and held_spans[c.camera].overlaps(c.start, c.end):
                    held.add(c.id)
                    floor_held += c.size
                    continue
                chosen.add(c.id)
                deletions.append(Deletion(c.id, c.camera, c.start, c.size, "floor"))
                free += c.size
        shortfall = max(disk.floor_bytes - free, 0)

    reasons = dict.fromkeys(REASONS, 0)
    for d in deletions:
        reasons[d.reason] += 1
    return Plan(
        deletions=tuple(deletions),
        held=tuple(sorted(held)),
        floor_needed=floor_needed,
        floor_shortfall_bytes=shortfall,
        floor_held_bytes=floor_held,
        cap_unreachable=tuple(sorted(cap_unreachable)),
        reasons=reasons,
    )
