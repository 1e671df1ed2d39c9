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

from . import decoders, tfod_fast
from .batching import Batcher
from .config import DetectOpenVinoConfig
from .labels import COCO_80, COCO_91, read_labels
from .loading import compile_model, output_infos, read_model, request_count, resolve_model
from .model_files import PackagedModel
from .preprocess import prepare_model, to_input

log = logging.getLogger(__name__)

TFOD_RESULTS = decoders.Binding("tfod", {role: i for i, role in enumerate(decoders.TFOD_ROLES)})
"""Where ``tfod_fast.postprocess`` puts each TF OD API output."""


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
        self._nms: tfod_fast.NmsSettings | None = None
        if self.binding.kind == "tfod" and not cfg.full_graph:
            network = tfod_fast.cut(model)  # the graph's per-image loops out: NMS in numpy
            if network is not None:
                model, self._nms = network
        self._labels = _labels(cfg, packaged, self.binding.kind)
        self._num_classes: int | None = None
        if self.binding.kind == "yolo":
            self._num_classes = _yolo_classes(infos[self.binding.outputs["predictions"]], self._labels,
                                              self.model_path)
        if cfg.batch_size > 1 and self.binding.kind == "detection_output":
            raise PluginError(f"{self.model_path}: batch_size > 1 needs a model whose outputs have the batch first "
                              "(tfod, yolo); DetectionOutput lists every image's boxes together: set batch_size = 1")
        model, self.plan = prepare_model(model, cfg, self.model_path, packaged, self.binding.kind, cfg.batch_size)
        self._compiled = compile_model(self._core, model, cfg, self.model_path)
        requests = request_count(self._compiled, cfg)
        self._idle: queue.Queue[ov.InferRequest] = queue.Queue()
        for _ in range(requests):
            self._idle.put(self._compiled.create_infer_request())
        self.batcher: Batcher[list[Detection]] | None = None
        if cfg.batch_size > 1:
            self.batcher = Batcher(self._detect_batch, cfg.batch_size, cfg.batch_wait_ms / 1000)
        self.concurrency = requests * cfg.batch_size  # callers enough to fill every request's batch
        self._closed = False
        self._warm_up()
        log.info("openvino detector: %s on %s, decoder %s%s, input %s%s, %d request(s)", self.model_path,
                 cfg.device, self.binding.kind, " (network only, NMS in numpy)" if self._nms else "",
                 "x".join(map(str, self.plan.size or ("any",))), " letterboxed" if self.plan.letterbox else "",
                 self.concurrency)

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
            wanted = {0, 1} if self._nms is not None else set(self.binding.outputs.values())
            return [request.get_output_tensor(i).data.copy() if i in wanted else np.empty(0)
                    for i in range(len(self._compiled.outputs))]
        finally:
            self._idle.put(request)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detections in one RGB uint8 ``(height, width, 3)`` image of any size, best first.

        With ``batch_size`` > 1 the call waits (at most ``batch_wait_ms``) for
        other cameras' frames of the same size and runs them as one batch.
        """
        if self.batcher is None:
            return self._detect_batch([image])[0]
        to_input(image, self.plan)  # a bad image fails in its own caller, not in the batch
        return self.batcher.run(image)

    def _detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections in each of ``images`` (all the same shape), from one inference."""
        prepared = [to_input(image, self.plan) for image in images]
        tensor = prepared[0][0] if len(prepared) == 1 else np.concatenate([t for t, _ in prepared])
        results = self._infer(tensor)
        found = []
        for k, (_, geometry) in enumerate(prepared):
            binding, mine = self.binding, results if len(prepared) == 1 else self._one(results, k)
            if self._nms is not None:
                mine = tfod_fast.postprocess(mine[0], mine[1], self._nms, self.config.threshold)
                binding = TFOD_RESULTS
            found.append(decoders.decode(binding, mine, geometry, self._labels, self.config.threshold,
                                         self.config.nms_iou, self._num_classes))
        return found

    @staticmethod
    def _one(results: list[np.ndarray], k: int) -> list[np.ndarray]:
        """Image ``k``'s share of a batch's outputs (batch on axis 0), shaped like a batch of one."""
        return [r[k:k + 1] if r.ndim else r for r in results]

    def close(self) -> None:
        """Release the requests and the compiled model; later ``detect`` calls raise."""
        self._closed = True
        while not self._idle.empty():
            self._idle.get_nowait()
        self._compiled = None  # type: ignore[assignment]
