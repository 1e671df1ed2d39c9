"""``OpenVinoDetector``: one compiled model and a pool of inference requests shared by every camera."""

from __future__ import annotations

import logging
import queue
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import openvino as ov

from nvr.detection import Detection
from nvr.errors import PluginError

from . import decoders
from .config import DetectOpenVinoConfig
from .labels import COCO_80, COCO_91, read_labels
from .loading import compile_model, output_infos, read_model, request_count, resolve_model
from .model_files import PackagedModel
from .preprocess import prepare_model, to_input

log = logging.getLogger(__name__)


def _labels(cfg: DetectOpenVinoConfig, packaged: PackagedModel | None, decoder: str) -> tuple[str, ...]:
    if isinstance(cfg.labels, list):
        return tuple(cfg.labels)
    if isinstance(cfg.labels, str):
        return tuple(read_labels(cfg.labels))
    if packaged is not None:
        return packaged.labels
    return COCO_80 if decoder == "yolo" else COCO_91


def _yolo_classes(info: decoders.OutputInfo, labels: tuple[str, ...], path: Path) -> int | None:
    """How many classes a yolo head scores, when its shape says so; warns when the labels disagree."""
    dims = [d for d in info.shape[1:] if d is not None]
    if len(dims) != 2 or 4 + len(labels) in dims:
        return len(labels)
    classes = min(dims) - 4
    if classes < 1:
        raise PluginError(f"{path}: the yolo output {info.describe()} has no class scores (needs 4+C rows, C >= 1)")
    log.warning("%s: the yolo head scores %d classes but %d labels are configured", path, classes, len(labels))
    return classes


class OpenVinoDetector:
    """A ``nvr.detection.Detector`` backed by OpenVINO; ``detect`` is thread-safe and blocking."""

    name = "openvino"

    def __init__(self, cfg: DetectOpenVinoConfig, core: ov.Core | None = None) -> None:
        self.config = cfg
        self.model_path, packaged = resolve_model(cfg)
        self._core = core or ov.Core()
        model = read_model(self._core, self.model_path)
        infos = output_infos(model)
        requested = cfg.decoder if cfg.decoder != "auto" or packaged is None else packaged.decoder
        self.binding = decoders.choose(str(self.model_path), infos, requested)
        self._labels = _labels(cfg, packaged, self.binding.kind)
        self._num_classes: int | None = None
        if self.binding.kind == "yolo":
            self._num_classes = _yolo_classes(infos[self.binding.outputs["predictions"]], self._labels,
                                              self.model_path)
        model, self.plan = prepare_model(model, cfg, self.model_path, packaged, self.binding.kind)
        self._compiled = compile_model(self._core, model, cfg, self.model_path)
        self.concurrency = request_count(self._compiled, cfg)
        self._idle: queue.Queue[ov.InferRequest] = queue.Queue()
        for _ in range(self.concurrency):
            self._idle.put(self._compiled.create_infer_request())
        self._closed = False
        self._warm_up()
        log.info("openvino detector: %s on %s, decoder %s, input %s%s, %d request(s)", self.model_path,
                 cfg.device, self.binding.kind, "x".join(map(str, self.plan.size or ("any",))),
                 " letterboxed" if self.plan.letterbox else "", self.concurrency)

    @property
    def labels(self) -> Sequence[str]:
        """Every label ``detect`` can return (ids without a label come back as ``class_<id>``)."""
        return list(dict.fromkeys(label for label in self._labels if label))

    def _warm_up(self) -> None:
        """One inference at start-up, so a model that cannot run fails now rather than on the first frame."""
        try:
            self.detect(np.full((48, 64, 3), 128, dtype=np.uint8))
        except Exception as exc:
            self.close()
            raise PluginError(f"{self.model_path}: the test inference failed: {exc}") from None

    def _infer(self, tensor: np.ndarray) -> list[np.ndarray]:
        if self._closed:
            raise RuntimeError("the openvino detector is closed")
        request = self._idle.get()
        try:
            request.infer({0: tensor}, share_inputs=True)
            wanted = set(self.binding.outputs.values())
            return [request.get_output_tensor(i).data.copy() if i in wanted else np.empty(0)
                    for i in range(len(self._compiled.outputs))]
        finally:
            self._idle.put(request)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detections in one RGB uint8 ``(height, width, 3)`` image of any size, best first."""
        tensor, geometry = to_input(image, self.plan)
        results = self._infer(tensor)
        return decoders.decode(self.binding, results, geometry, self._labels, self.config.threshold,
                               self.config.nms_iou, self._num_classes)

    def close(self) -> None:
        """Release the requests and the compiled model; later ``detect`` calls raise."""
        self._closed = True
        while not self._idle.empty():
            self._idle.get_nowait()
        self._compiled = None  # type: ignore[assignment]
