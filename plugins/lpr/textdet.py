"""Text localisation: PP-OCR's DB probability map -> text boxes (threshold, connected boxes, unclip) in numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openvino as ov
from PIL import Image

from .components import label_boxes

STRIDE = 32
"""Input sides must be multiples of this."""


@dataclass(frozen=True, slots=True)
class TextBox:
    """A text line found in an image: pixel box ``(x0, y0, x1, y1)`` in that image and the mean probability."""

    box: tuple[float, float, float, float]
    score: float

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


def input_size(width: int, height: int, scale: float, max_side: int) -> tuple[int, int]:
    """``(w, h)`` of the model input for an image scaled by ``scale``: multiples of 32, longest side capped."""
    scale = min(scale, max_side / max(width, height))
    w = max(STRIDE, int(round(width * scale / STRIDE)) * STRIDE)
    h = max(STRIDE, int(round(height * scale / STRIDE)) * STRIDE)
    return w, h


def prepare(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 image -> 1x3xHxW float32 (BGR, scaled to [-1, 1]) resized to ``size``."""
    resized = Image.fromarray(image).resize(size, Image.Resampling.BILINEAR)
    pixels = np.asarray(resized, dtype=np.float32)[:, :, ::-1] / 127.5 - 1.0
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])


def boxes_from_map(prob: np.ndarray, *, thresh: float = 0.3, box_thresh: float = 0.5, unclip: float = 1.6,
                   min_side: float = 3.0, max_boxes: int = 100) -> list[TextBox]:
    """Text boxes in map pixels: regions above ``thresh`` whose mean probability reaches ``box_thresh``.

    DB predicts shrunk text regions; each box grows by ``area * unclip / perimeter`` on every side (the
    DB paper's unclip of a rectangle).
    """
    mask = prob > thresh
    mask[:-1, :-1] |= mask[1:, 1:]  # PP-OCR's 2x2 dilation
    found = []
    for x0, y0, x1, y1, pixels in label_boxes(mask, min_pixels=4):
        w, h = x1 - x0, y1 - y0
        if min(w, h) < min_side:
            continue
        score = float(prob[y0:y1, x0:x1][pixels].mean())
        if score < box_thresh:
            continue
        grow = w * h * unclip / (2 * (w + h))
        box = (max(0.0, x0 - grow), max(0.0, y0 - grow), min(float(prob.shape[1]), x1 + grow),
               min(float(prob.shape[0]), y1 + grow))
        found.append(TextBox(box, score))
    found.sort(key=lambda b: -b.score)
    return found[:max_boxes]


class TextDetector:
    """The DB text detector; ``detect`` blocks and is safe to call from one thread at a time per instance."""

    def __init__(self, compiled: ov.CompiledModel, *, thresh: float = 0.3, box_thresh: float = 0.5,
                 unclip: float = 1.6) -> None:
        self._request = compiled.create_infer_request()
        self.thresh, self.box_thresh, self.unclip = thresh, box_thresh, unclip

    def detect(self, image: np.ndarray, scale: float = 1.0, max_side: int = 960) -> list[TextBox]:
        """Text boxes in ``image`` (RGB uint8) pixel coordinates; the image is scaled by ``scale`` for the model."""
        height, width = image.shape[:2]
        size = input_size(width, height, scale, max_side)
        self._request.infer({0: prepare(image, size)})
        prob = np.asarray(self._request.get_output_tensor(0).data[0, 0], dtype=np.float32)
        sx, sy = width / prob.shape[1], height / prob.shape[0]
        out = []
        for b in boxes_from_map(prob, thresh=self.thresh, box_thresh=self.box_thresh, unclip=self.unclip):
            x0, y0, x1, y1 = b.box
            out.append(TextBox((x0 * sx, y0 * sy, x1 * sx, y1 * sy), b.score))
        return out
