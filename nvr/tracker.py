"""A small multi-object tracker: greedy matching of detections to tracks by overlap and nearness, per label."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from nvr.detection import Box, Detection

MATCH_MIN = 0.2
"""Lowest similarity (see ``similarity``) at which a detection continues a track."""


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def similarity(a: Box, b: Box) -> float:
    """Overlap, or for boxes that moved apart (sparse sampling), up to 0.5 for centres within a box size."""
    overlap = iou(a, b)
    ax, ay = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    bx, by = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1], 1e-6)
    near = max(0.0, 1.0 - ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5 / size) * 0.5
    return max(overlap, near)


@dataclass
class Track:
    """One object followed across frames. Times are UTC µs."""

    id: int
    label: str
    first_us: int
    last_us: int
    box: Box
    score: float
    best_score: float
    best_box: Box
    hits: int = 1
    zones: tuple[str, ...] = ()
    """Zones the latest detection counts in."""
    zones_ever: list[str] = field(default_factory=list)

    def see(self, time_us: int, det: Detection, zones: tuple[str, ...]) -> bool:
        """Continue the track with ``det``; return True if it is the best detection so far."""
        self.last_us, self.box, self.score, self.zones = time_us, det.box, det.score, zones
        self.hits += 1
        self.zones_ever.extend(z for z in zones if z not in self.zones_ever)
        if det.score > self.best_score:
            self.best_score, self.best_box = det.score, det.box
            return True
        return False


@dataclass
class TrackUpdate:
    """What one frame did: tracks continued (with whether the detection is their best), started and ended."""

    continued: list[tuple[Track, bool]]
    started: list[Track]
    ended: list[Track]


class Tracker:
    """Tracks of one camera; a track unseen for ``max_age_us`` ends."""

    _ids = itertools.count(1)

    def __init__(self, *, max_age_us: int) -> None:
        self.max_age_us = max_age_us
        self.tracks: dict[int, Track] = {}

    def update(self, time_us: int, detections: list[Detection],
               zones: list[tuple[str, ...]] | None = None) -> TrackUpdate:
        """Match ``detections`` (with the zones each counts in) to tracks; start and end tracks."""
        zones = zones if zones is not None else [()] * len(detections)
        pairs = sorted(
            ((similarity(t.box, d.box), tid, di) for tid, t in self.tracks.items()
             for di, d in enumerate(detections) if t.label == d.label),
            reverse=True,
        )
        used_t: set[int] = set()
        used_d: set[int] = set()
        continued: list[tuple[Track, bool]] = []
        for sim, tid, di in pairs:
            if sim < MATCH_MIN:
                break
            if tid in used_t or di in used_d:
                continue
            used_t.add(tid)
            used_d.add(di)
            track = self.tracks[tid]
            continued.append((track, track.see(time_us, detections[di], zones[di])))
        started = []
        for di, det in enumerate(detections):
            if di not in used_d:
                track = Track(next(self._ids), det.label, time_us, time_us, det.box, det.score, det.score, det.box,
                              zones=zones[di], zones_ever=list(zones[di]))
                self.tracks[track.id] = track
                started.append(track)
        return TrackUpdate(continued, started, self.expire(time_us))

    def expire(self, now_us: int) -> list[Track]:
        """End and return the tracks unseen for longer than ``max_age_us``."""
        ended = [t for t in self.tracks.values() if now_us - t.last_us > self.max_age_us]
        for track in ended:
            del self.tracks[track.id]
        return ended
