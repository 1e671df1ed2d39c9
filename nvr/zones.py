"""Zones and masks: polygons in frame fractions, point membership, per-zone object filters, raster masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nvr.config import ZoneConfig
from nvr.detection import Detection

Polygon = Sequence[tuple[float, float]]


def point_in_polygon(x: float, y: float, polygon: Polygon) -> bool:
    """Even-odd rule; points exactly on an edge may fall either way."""
    inside = False
    n = len(polygon)
    j = n - 1
    for i in range(n):
        xi, yi = polygon[i]
        xj, yj = polygon[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def polygon_mask(polygons: Sequence[Polygon], width: int, height: int) -> np.ndarray:
    """A ``(height, width)`` bool array, True at pixel centres inside any polygon."""
    mask = np.zeros((height, width), dtype=bool)
    if not polygons:
        return mask
    xs = (np.arange(width) + 0.5) / width
    ys = (np.arange(height) + 0.5) / height
    px, py = np.meshgrid(xs, ys)
    for polygon in polygons:
        inside = np.zeros((height, width), dtype=bool)
        pts = list(polygon)
        for (xi, yi), (xj, yj) in zip(pts, pts[-1:] + pts[:-1], strict=True):
            if yi == yj:
                continue
            crosses = (yi > py) != (yj > py)
            x_at = (xj - xi) * (py - yi) / (yj - yi) + xi
            inside ^= crosses & (px < x_at)
        mask |= inside
    return mask


@dataclass(frozen=True)
class Zone:
    """A configured zone and its filters."""

    name: str
    points: tuple[tuple[float, float], ...]
    objects: frozenset[str]
    min_score: float
    min_area: float

    @classmethod
    def from_config(cls, cfg: ZoneConfig) -> Zone:
        return cls(cfg.name, tuple(cfg.points), frozenset(cfg.objects), cfg.min_score, cfg.min_area)

    def admits(self, detection: Detection) -> bool:
        """Whether ``detection`` counts in this zone: its label, score and size pass and its foot is inside."""
        if self.objects and detection.label not in self.objects:
            return False
        if detection.score < self.min_score or detection.area < self.min_area:
            return False
        return point_in_polygon(*detection.foot, self.points)


def zones_of(detection: Detection, zones: Sequence[Zone]) -> tuple[str, ...]:
    """Names of the zones ``detection`` counts in, in config order."""
    return tuple(zone.name for zone in zones if zone.admits(detection))
