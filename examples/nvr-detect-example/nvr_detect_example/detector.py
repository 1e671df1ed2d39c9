"""A detector without a model: saturated red pixels, grouped on a grid into boxes."""

from __future__ import annotations

from collections import deque

import numpy as np

from nvr.detection import Detection, clip_box


def red_mask(image: np.ndarray) -> np.ndarray:
    """Pixels that are clearly red: R > 180, G < 80, B < 80."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return (r > 180) & (g < 80) & (b < 80)


def _components(cells: np.ndarray) -> list[list[tuple[int, int]]]:
    """4-connected groups of True cells (breadth-first; the grid is small)."""
    seen = np.zeros_like(cells, dtype=bool)
    groups = []
    for start in zip(*np.nonzero(cells), strict=True):
        if seen[start]:
            continue
        seen[start] = True
        group, todo = [], deque([start])
        while todo:
            y, x = todo.popleft()
            group.append((int(y), int(x)))
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < cells.shape[0] and 0 <= nx < cells.shape[1] and cells[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    todo.append((ny, nx))
        groups.append(group)
    return groups


class RedObjectDetector:
    """Implements ``nvr.detection.Detector``; pure numpy, so any number of threads may call ``detect``."""

    name = "example_color"
    labels = ("red_object",)
    concurrency = 2

    def __init__(self, min_area: int = 64, cell: int = 8) -> None:
        self.min_area = min_area
        self.cell = cell

    def detect(self, image: np.ndarray) -> list[Detection]:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 (height, width, 3) image, got {image.dtype} {image.shape}")
        h, w = image.shape[:2]
        mask = red_mask(image)
        c = self.cell
        padded = np.zeros((-(-h // c) * c, -(-w // c) * c), dtype=bool)
        padded[:h, :w] = mask
        cells = padded.reshape(padded.shape[0] // c, c, padded.shape[1] // c, c).any(axis=(1, 3))
        found = []
        for group in _components(cells):
            ys, xs = zip(*group, strict=True)
            y0, y1, x0, x1 = min(ys) * c, (max(ys) + 1) * c, min(xs) * c, (max(xs) + 1) * c
            py, px = np.nonzero(mask[y0:y1, x0:x1])
            if len(py) < self.min_area:
                continue
            top, bottom, left, right = y0 + py.min(), y0 + py.max() + 1, x0 + px.min(), x0 + px.max() + 1
            fill = len(py) / ((bottom - top) * (right - left))
            found.append(Detection("red_object", round(float(fill), 4), clip_box(left / w, top / h, right / w,
                                                                                   bottom / h)))
        return sorted(found, key=lambda d: -d.score)

    def close(self) -> None:
        pass
