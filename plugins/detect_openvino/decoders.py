"""Output decoders (pure numpy): TF Object Detection API, OpenVINO DetectionOutput, YOLOv8/11 heads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nvr.detection import Detection, clip_box, nms
from nvr.errors import PluginError

from .labels import label_of

NEEDS = {
    "tfod": "outputs named detection_boxes, detection_scores and detection_classes",
    "detection_output": "one [1,1,N,7] output",
    "yolo": "one [1,4+C,N] or [1,N,4+C] output",
}
TFOD_ROLES = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")
MAX_YOLO_DETECTIONS = 300
MAX_YOLO_CANDIDATES = 3000


@dataclass(frozen=True)
class OutputInfo:
    """What the decoder chooser knows about one model output: its names and (partial) shape."""

    names: frozenset[str]
    shape: tuple[int | None, ...]

    @property
    def name(self) -> str:
        return min(self.names, key=lambda n: (len(n), n)) if self.names else "?"

    def describe(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} [{dims}]"

    def has_role(self, role: str) -> bool:
        return any(n.split(":", 1)[0].rsplit("/", 1)[-1] == role for n in self.names)


@dataclass(frozen=True)
class Binding:
    """A decoder chosen for a model: its kind and which output index plays which role."""

    kind: str
    outputs: dict[str, int]


@dataclass(frozen=True)
class Geometry:
    """Where the image sits in the model input, to map boxes back to the image.

    The image (``image_w`` x ``image_h``) was placed at (``left``, ``top``) on a
    ``canvas_w`` x ``canvas_h`` canvas (larger when letterboxed), which was
    resized to the model input (``input_w`` x ``input_h`` pixels).
    """

    image_w: int
    image_h: int
    input_w: int
    input_h: int
    canvas_w: int
    canvas_h: int
    left: int = 0
    top: int = 0

    @classmethod
    def stretch(cls, image_w: int, image_h: int, input_w: int, input_h: int) -> Geometry:
        return cls(image_w, image_h, input_w, input_h, image_w, image_h)

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """``[K,4]`` x0,y0,x1,y1 normalised to the model input -> normalised to the image."""
        out = np.empty_like(boxes, dtype=np.float64)
        out[:, 0::2] = (boxes[:, 0::2] * self.canvas_w - self.left) / self.image_w
        out[:, 1::2] = (boxes[:, 1::2] * self.canvas_h - self.top) / self.image_h
        return out


def describe(outputs: Sequence[OutputInfo]) -> str:
    return "[" + ", ".join(o.describe() for o in outputs) + "]"


def _match_tfod(outputs: Sequence[OutputInfo]) -> dict[str, int] | None:
    found = {role: i for role in TFOD_ROLES for i, o in enumerate(outputs) if o.has_role(role)}
    return found if all(r in found for r in TFOD_ROLES[:3]) else None


def _match_detection_output(outputs: Sequence[OutputInfo]) -> dict[str, int] | None:
    hits = [i for i, o in enumerate(outputs) if len(o.shape) == 4 and o.shape[3] == 7 and o.shape[1] in (1, None)]
    return {"detections": hits[0]} if len(hits) == 1 else None


def _match_yolo(outputs: Sequence[OutputInfo]) -> dict[str, int] | None:
    def fits(shape: tuple[int | None, ...]) -> bool:
        return len(shape) == 3 and shape[0] in (1, None) and any(d is None or d >= 5 for d in shape[1:])

    hits = [i for i, o in enumerate(outputs) if fits(o.shape)]
    return {"predictions": hits[0]} if len(hits) == 1 else None


_MATCHERS = {"tfod": _match_tfod, "detection_output": _match_detection_output, "yolo": _match_yolo}


def choose(model_file: str, outputs: Sequence[OutputInfo], requested: str = "auto") -> Binding:
    """The decoder for these outputs: the requested one if it fits, or the first that fits for ``auto``."""
    kinds = list(_MATCHERS) if requested == "auto" else [requested]
    for kind in kinds:
        roles = _MATCHERS[kind](outputs)
        if roles is not None:
            return Binding(kind, roles)
    if requested == "auto":
        needs = ", ".join(f"{k} needs {v}" for k, v in NEEDS.items())
        raise PluginError(f"{model_file}: outputs {describe(outputs)} match no decoder ({needs})")
    raise PluginError(
        f"{model_file}: outputs {describe(outputs)} do not fit decoder {requested!r} ({requested} needs "
        f"{NEEDS[requested]}); set decoder = \"auto\" or another decoder"
    )


def _detections(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
                labels: tuple[str, ...], geometry: Geometry) -> list[Detection]:
    """Model-normalised x0,y0,x1,y1 boxes -> Detections in the image, best first."""
    if len(scores) == 0:
        return []
    mapped = geometry.to_image(boxes)
    order = np.argsort(-scores, kind="stable")
    dets = []
    for i in order:
        box = clip_box(*(float(v) for v in mapped[i]))
        if box[2] > box[0] and box[3] > box[1]:
            dets.append(Detection(label_of(labels, int(classes[i])), float(scores[i]), box))
    return dets


def decode_tfod(outputs: dict[str, np.ndarray], geometry: Geometry, labels: tuple[str, ...],
                threshold: float) -> list[Detection]:
    """TF OD API: boxes [1,N,4] ymin,xmin,ymax,xmax (normalised), scores [1,N], classes [1,N], num [1]."""
    boxes = np.asarray(outputs["detection_boxes"], dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(outputs["detection_scores"], dtype=np.float64).reshape(-1)
    classes = np.rint(np.asarray(outputs["detection_classes"], dtype=np.float64).reshape(-1)).astype(np.int64)
    n = len(scores)
    if "num_detections" in outputs:
        n = min(n, int(np.asarray(outputs["num_detections"]).reshape(-1)[0]))
    keep = np.nonzero(scores[:n] >= threshold)[0]
    xyxy = boxes[keep][:, [1, 0, 3, 2]]
    return _detections(xyxy, scores[keep], classes[keep], labels, geometry)


def decode_detection_output(outputs: dict[str, np.ndarray], geometry: Geometry, labels: tuple[str, ...],
                            threshold: float) -> list[Detection]:
    """``[1,1,N,7]`` rows of image_id, label, conf, x0, y0, x1, y1 (normalised); image_id -1 ends the list."""
    rows = np.asarray(outputs["detections"], dtype=np.float64).reshape(-1, 7)
    ends = np.nonzero(rows[:, 0] < 0)[0]
    rows = rows[: ends[0]] if len(ends) else rows
    rows = rows[rows[:, 2] >= threshold]
    return _detections(rows[:, 3:7], rows[:, 2], np.rint(rows[:, 1]).astype(np.int64), labels, geometry)


def yolo_rows(predictions: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """``[1,4+C,N]`` or ``[1,N,4+C]`` -> ``[N,4+C]``; the dim equal to 4+C (else the smaller one) holds channels."""
    p = np.asarray(predictions).reshape(predictions.shape[-2:])
    rows, cols = p.shape
    if num_classes is not None and (rows == 4 + num_classes) != (cols == 4 + num_classes):
        return p.T if rows == 4 + num_classes else p
    return p.T if rows <= cols else p


def decode_yolo(outputs: dict[str, np.ndarray], geometry: Geometry, labels: tuple[str, ...],
                threshold: float, nms_iou: float, num_classes: int | None = None) -> list[Detection]:
    """YOLOv8/11 head: cx,cy,w,h in input pixels, then C class scores (no objectness); NMS per class."""
    p = yolo_rows(outputs["predictions"], num_classes).astype(np.float64)
    class_scores = p[:, 4:]
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(p)), classes]
    keep = np.nonzero(scores >= threshold)[0]
    if len(keep) > MAX_YOLO_CANDIDATES:  # a very low threshold: NMS only the best
        keep = keep[np.argsort(-scores[keep], kind="stable")[:MAX_YOLO_CANDIDATES]]
    p, scores, classes = p[keep], scores[keep], classes[keep]
    xyxy = np.stack([p[:, 0] - p[:, 2] / 2, p[:, 1] - p[:, 3] / 2, p[:, 0] + p[:, 2] / 2, p[:, 1] + p[:, 3] / 2], 1)
    if len(xyxy):
        # offset each class far apart so one NMS pass never merges boxes of different classes
        shifted = xyxy + (classes * (1.0 + 2.0 * np.abs(xyxy).max()))[:, None]
        kept = nms(shifted, scores, nms_iou)[:MAX_YOLO_DETECTIONS]
        xyxy, scores, classes = xyxy[kept], scores[kept], classes[kept]
    xyxy = xyxy / np.array([geometry.input_w, geometry.input_h, geometry.input_w, geometry.input_h])
    return _detections(xyxy, scores, classes, labels, geometry)


def decode(binding: Binding, results: Sequence[np.ndarray], geometry: Geometry, labels: tuple[str, ...],
           threshold: float, nms_iou: float, num_classes: int | None = None) -> list[Detection]:
    """Run the bound decoder on one inference's outputs (indexed like the model's outputs)."""
    outputs = {role: results[index] for role, index in binding.outputs.items()}
    if binding.kind == "tfod":
        return decode_tfod(outputs, geometry, labels, threshold)
    if binding.kind == "detection_output":
        return decode_detection_output(outputs, geometry, labels, threshold)
    return decode_yolo(outputs, geometry, labels, threshold, nms_iou, num_classes)
