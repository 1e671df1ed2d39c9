"""Connected components of a binary map in numpy (row runs joined with union-find): no opencv or scipy."""

from __future__ import annotations

import numpy as np


def _runs(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) columns of the True runs of one row."""
    padded = np.concatenate(([False], row, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[0::2], edges[1::2]


def label_boxes(mask: np.ndarray, min_pixels: int = 1) -> list[tuple[int, int, int, int, np.ndarray]]:
    """8-connected components of ``mask``: ``(x0, y0, x1, y1, pixel_mask_in_box)`` each, x1/y1 exclusive."""
    parent: list[int] = []

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    runs: list[tuple[int, int, int]] = []  # row, start, end
    previous: list[int] = []  # run indices of the previous row
    for y in range(mask.shape[0]):
        starts, ends = _runs(mask[y])
        current = []
        j = 0
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            index = len(runs)
            runs.append((y, s, e))
            parent.append(index)
            while j < len(previous) and runs[previous[j]][2] < s:  # runs of the previous row ending before s - 1
                j += 1
            k = j
            while k < len(previous) and runs[previous[k]][1] <= e:  # 8-connected: touching diagonally counts
                a, b = find(index), find(previous[k])
                if a != b:
                    parent[max(a, b)] = min(a, b)
                k += 1
            current.append(index)
        previous = current
    groups: dict[int, list[int]] = {}
    for i in range(len(runs)):
        groups.setdefault(find(i), []).append(i)
    out = []
    for members in groups.values():
        rows = [runs[i] for i in members]
        pixels = sum(e - s for _, s, e in rows)
        if pixels < min_pixels:
            continue
        y0 = min(r[0] for r in rows)
        y1 = max(r[0] for r in rows) + 1
        x0 = min(r[1] for r in rows)
        x1 = max(r[2] for r in rows)
        local = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        for y, s, e in rows:
            local[y - y0, s - x0:e - x0] = True
        out.append((x0, y0, x1, y1, local))
    return out
