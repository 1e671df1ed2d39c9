"""What a detector is: the ``Detection`` it returns and the ``Detector`` protocol plugins implement."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

Box = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)`` normalised to the frame: 0 is the left/top edge, 1 the right/bottom edge."""


@dataclass(frozen=True, slots=True)
class Detection:
    """One object found in one frame."""

    label: str
    score: float
    box: Box

    @property
    def area(self) -> float:
        """Fraction of the frame the box covers."""
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)

    @property
    def foot(self) -> tuple[float, float]:
        """Bottom-centre of the box: where a person or vehicle stands, used for zone membership."""
        x0, _, x1, y1 = self.box
        return (x0 + x1) / 2, y1


def clip_box(x0: float, y0: float, x1: float, y1: float) -> Box:
    """A box with its corners ordered and clamped to the frame."""
    if x1 < x0:
        x0, x1 = x1, x0
    if y1 < y0:
        y0, y1 = y1, y0
    return (min(max(x0, 0.0), 1.0), min(max(y0, 0.0), 1.0), min(max(x1, 0.0), 1.0), min(max(y1, 0.0), 1.0))


@runtime_checkable
class Detector(Protocol):
    """A loaded, ready detector shared by every analysed camera.

    ``detect`` takes one RGB ``uint8`` image of shape ``(height, width, 3)``
    (any size: the detector resizes) and returns the detections above its own
    score threshold. It blocks (run it in a thread), must be safe to call from
    ``concurrency`` threads at once, and raises on failure rather than
    returning nothing. ``labels`` lists every label it can return.
    """

    name: str
    labels: Sequence[str]
    concurrency: int

    def detect(self, image: np.ndarray) -> list[Detection]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TrackedBox:
    """Where a tracked object is in an analysed frame."""

    track_id: int
    label: str
    score: float
    box: Box


@dataclass(frozen=True, slots=True)
class AnalysedFrame:
    """One analysed frame as plugins see it: the image, what moved, and the tracks seen in it.

    ``rgb`` is the decoded frame (``uint8``, height x width x 3; do not modify
    it); ``motion_box`` surrounds what changed since the background (None when
    nothing did); ``tracks`` are the tracked objects seen in this frame with
    their stable ids.
    """

    camera: str
    time_us: int
    rgb: np.ndarray
    motion_box: Box | None
    tracks: tuple[TrackedBox, ...]


DetectorFactory = Callable[[], Detector]
"""Builds a detector at start-up; raises ``nvr.errors.PluginError`` naming the model file and the reason."""


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, limit: int | None = None) -> np.ndarray:
    """Greedy non-maximum suppression (as TF's ``non_max_suppression``): a box goes when its IoU with a better kept
    box exceeds ``iou``; indices of the kept boxes, best first, at most ``limit``. Boxes are corner pairs, either
    x0, y0, x1, y1 or TF's y0, x0, y1, x1 (IoU is the same)."""
    order = np.argsort(-scores, kind="stable")
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep: list[int] = []
    while len(order) and (limit is None or len(keep) < limit):
        i, rest = order[0], order[1:]
        keep.append(int(i))
        w = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        h = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = w * h
        union = areas[i] + areas[rest] - inter
        overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)
