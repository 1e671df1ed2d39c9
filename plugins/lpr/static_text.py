"""Static text per camera: lines refused again and again at one place (clocks, signs) are not read every frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

STATIC_AFTER = 2
"""A line rejected this many times in a row at the same place is static text (a clock, a sign): skipped..."""
STATIC_RECHECK = 10
"""...except every 10th time, in case a plate now stands there."""
STATIC_FORGET_US = 60_000_000
"""A place not seen for a minute is forgotten."""
STATIC_SAME = 0.1
"""Two line images this close (mean difference of normalised 32x8 grey thumbnails) show the same text: a
clock's next second or a sign is under 0.06, two different plates are over 0.15."""


def _areas(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float]:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = w * h if w > 0 and h > 0 else 0.0
    return inter, (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    inter, area_a, area_b = _areas(a, b)
    return inter / (area_a + area_b - inter) if inter else 0.0


def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over the smaller box: 1 when one box lies inside the other."""
    inter, area_a, area_b = _areas(a, b)
    return inter / min(area_a, area_b) if inter else 0.0


def signature(crop: np.ndarray) -> np.ndarray:
    """A 32x8 grey thumbnail, normalised for brightness and contrast, to tell the same text at a place again."""
    grey = np.asarray(Image.fromarray(crop).convert("L").resize((32, 8), Image.Resampling.BILINEAR),
                      dtype=np.float32)
    return (grey - grey.mean()) / (grey.std() + 8.0)


@dataclass
class _Static:
    box: tuple[float, float, float, float]
    look: np.ndarray
    rejected: int
    last_us: int


class StaticText:
    """Per camera: text refused again and again at one place (a burned-in clock, a sign), to skip reading it.

    A place is skipped only while what it shows looks the same, so a car whose plate stops where another
    car's plate was refused is still read.
    """

    def __init__(self) -> None:
        self._places: list[_Static] = []

    def _find(self, box: tuple[float, float, float, float], look: np.ndarray) -> _Static | None:
        return next((p for p in self._places
                     if iou(p.box, box) >= 0.6 and float(np.abs(p.look - look).mean()) < STATIC_SAME), None)

    def skip(self, box: tuple[float, float, float, float], look: np.ndarray, time_us: int) -> bool:
        """Should this line go unread? Counts the skip, so every ``STATIC_RECHECK``-th is read again."""
        self._places = [p for p in self._places if time_us - p.last_us < STATIC_FORGET_US]
        place = self._find(box, look)
        if place is None or place.rejected < STATIC_AFTER:
            return False
        place.rejected += 1
        place.last_us = time_us
        return (place.rejected - STATIC_AFTER) % STATIC_RECHECK != 0

    def rejected(self, box: tuple[float, float, float, float], look: np.ndarray, time_us: int) -> None:
        place = self._find(box, look)
        if place is None:
            self._places.append(_Static(box, look, 1, time_us))
        else:
            place.box, place.look, place.last_us = box, look, time_us
            place.rejected += 1

    def accepted(self, box: tuple[float, float, float, float]) -> None:
        self._places = [p for p in self._places if iou(p.box, box) < 0.6]
