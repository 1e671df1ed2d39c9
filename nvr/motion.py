"""The motion gate: cheap frame differencing on small grey frames, with masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nvr.detection import Box
from nvr.zones import Polygon, polygon_mask

THUMB_WIDTH = 160
"""Motion is measured on frames shrunk to about this width."""
BACKGROUND_ALPHA = 0.25
"""Weight of the newest frame in the running background."""


def grey_thumbnail(rgb: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """A small ``uint8`` grey copy of an RGB frame (strided, not filtered: noise is averaged by the background)."""
    step = max(1, rgb.shape[1] // width)
    small = rgb[::step, ::step].astype(np.uint16)
    return ((small[..., 0] * 77 + small[..., 1] * 150 + small[..., 2] * 29) >> 8).astype(np.uint8)


@dataclass(frozen=True, slots=True)
class Motion:
    """How much of the unmasked frame changed, and the box around the change (None when nothing did)."""

    fraction: float
    box: Box | None
    moving: bool


class MotionDetector:
    """Differences each grey frame against a running background; masked pixels never count."""

    def __init__(self, *, threshold: int = 25, min_fraction: float = 0.002,
                 masks: Sequence[Polygon] = ()) -> None:
        self.threshold = threshold
        self.min_fraction = min_fraction
        self._masks = list(masks)
        self._background: np.ndarray | None = None
        self._keep: np.ndarray | None = None
        self._kept = 0

    def update(self, grey: np.ndarray) -> Motion:
        """Compare ``grey`` with the background, then blend it in. The first frame (or a new size) is motion."""
        frame = grey.astype(np.float32)
        if self._background is None or self._background.shape != frame.shape:
            self._background = frame
            h, w = frame.shape
            self._keep = ~polygon_mask(self._masks, w, h)
            self._kept = int(self._keep.sum())
            return Motion(1.0, (0.0, 0.0, 1.0, 1.0), True)
        changed = np.abs(frame - self._background) > self.threshold
        changed &= self._keep
        self._background += BACKGROUND_ALPHA * (frame - self._background)
        count = int(changed.sum())
        fraction = count / self._kept if self._kept else 0.0
        if count == 0:
            return Motion(0.0, None, False)
        h, w = changed.shape
        rows = np.flatnonzero(changed.any(axis=1))
        cols = np.flatnonzero(changed.any(axis=0))
        box = (cols[0] / w, rows[0] / h, (cols[-1] + 1) / w, (rows[-1] + 1) / h)
        return Motion(fraction, box, fraction >= self.min_fraction)
