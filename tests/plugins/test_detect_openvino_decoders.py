"""Each output decoder, run through real OpenVINO inference on tiny ONNX models with known outputs."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto

from nvr.detection import Detection, Detector
from nvr.plugins.detect_openvino import decoders

from . import onnx_models

BLACK = np.zeros((40, 50, 3), np.uint8)


def summary(dets: list[Detection]) -> list[tuple[str, float, tuple[float, ...]]]:
    return [(d.label, round(d.score, 5), tuple(round(v, 5) for v in d.box)) for d in dets]


# --- TF Object Detection API -------------------------------------------------

TFOD_OUTPUTS = {
    # ymin, xmin, ymax, xmax (normalised); the fourth row is past num_detections
    "detection_boxes": [[[0.1, 0.2, 0.5, 0.6], [0.3, 0.3, 0.9, 0.7], [0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.6, 0.6]]],
    "detection_scores": [[0.95, 0.6, 0.4, 0.99]],
    "detection_classes": [[1, 3, 1, 2]],
    "num_detections": [3],
}


def test_tfod_decoder(tmp_path: Path, load_detector) -> None:
    # Like a TF OD API graph: uint8 NHWC with dynamic height and width, fed the frame as it is.
    model = onnx_models.constant_outputs(tmp_path / "tfod.onnx", TFOD_OUTPUTS, layout="NHWC", size=None,
                                         dtype=TensorProto.UINT8)
    detector = load_detector(model=str(model))
    assert detector.binding.kind == "tfod"
    assert detector.plan.size is None
    assert summary(detector.detect(BLACK)) == [
        ("person", 0.95, (0.2, 0.1, 0.6, 0.5)),  # COCO-91 ids by default: 1 = person, 3 = car
        ("car", 0.6, (0.3, 0.3, 0.7, 0.9)),
    ]
    assert "person" in detector.labels and "" not in detector.labels


def test_tfod_decoder_threshold_and_labels(tmp_path: Path, load_detector) -> None:
    model = onnx_models.constant_outputs(tmp_path / "tfod.onnx", TFOD_OUTPUTS, layout="NHWC", size=(32, 32),
                                         dtype=TensorProto.UINT8)
    detector = load_detector(model=str(model), threshold=0.3, labels=["", "walker"], decoder="tfod")
    assert [(label, score) for label, score, _ in summary(detector.detect(BLACK))] == [
        ("walker", 0.95), ("class_3", 0.6), ("walker", 0.4),
    ]


# --- OpenVINO DetectionOutput [1,1,N,7] ---------------------------------------

DETECTION_OUTPUT = [[[
    [0, 1, 0.9, 0.1, 0.2, 0.3, 0.4],
    [0, 2, 0.3, 0.5, 0.5, 0.6, 0.6],   # below the threshold
    [0, 2, 0.7, 0.5, 0.5, 0.9, 1.2],   # y1 clipped to the frame
    [0, 7, 0.6, 0.0, 0.0, 0.2, 0.2],   # an id the labels file does not name
    [-1, 0, 0, 0, 0, 0, 0],            # end of the list
    [0, 1, 0.99, 0.0, 0.0, 1.0, 1.0],  # after the end: ignored
]]]


def test_detection_output_decoder(tmp_path: Path, load_detector) -> None:
    model = onnx_models.constant_outputs(tmp_path / "ssd.onnx", {"detection_out": DETECTION_OUTPUT})
    labels = tmp_path / "labels.txt"
    labels.write_text("\nperson\nvehicle\n\n", encoding="utf-8")
    detector = load_detector(model=str(model), labels=str(labels))
    assert detector.binding.kind == "detection_output"
    assert detector.plan.size == (32, 32)
    assert list(detector.labels) == ["person", "vehicle"]
    assert summary(detector.detect(BLACK)) == [
        ("person", 0.9, (0.1, 0.2, 0.3, 0.4)),
        ("vehicle", 0.7, (0.5, 0.5, 0.9, 1.0)),
        ("class_7", 0.6, (0.0, 0.0, 0.2, 0.2)),
    ]
    stricter = load_detector(model=str(model), labels=str(labels), threshold=0.65)
    assert [d.label for d in stricter.detect(BLACK)] == ["person", "vehicle"]


# --- YOLOv8/11 heads ------------------------------------------------------------

# cx, cy, w, h in model-input pixels (64 x 64), then the class scores (no objectness)
YOLO_CANDIDATES = [
    (32, 32, 16, 16, {0: 0.9, 1: 0.1}),  # kept
    (34, 32, 16, 16, {0: 0.8}),          # same class, IoU 0.78 with the first: suppressed
    (34, 32, 16, 16, {1: 0.7}),          # same place, other class: kept
    (10, 10, 8, 8, {0: 0.3, 1: 0.2}),    # below the threshold
    (48, 26, 8, 12, {1: 0.6}),           # kept
]


def yolo_head(classes: int, transposed: bool, class_ids: tuple[int, int] = (0, 1)) -> np.ndarray:
    rows = np.zeros((len(YOLO_CANDIDATES), 4 + classes), np.float32)
    for i, (cx, cy, w, h, scores) in enumerate(YOLO_CANDIDATES):
        rows[i, :4] = cx, cy, w, h
        for k, score in scores.items():
            rows[i, 4 + class_ids[k]] = score
    return rows[None] if transposed else rows.T[None]


def test_yolo_decoder_letterbox_wide_image(tmp_path: Path, load_detector) -> None:
    """[1, 4+C, N]; a 128x64 frame is padded to 128x128 (32 rows top and bottom), then halved to 64x64."""
    model = onnx_models.constant_outputs(tmp_path / "yolo.onnx", {"output0": yolo_head(2, transposed=False)},
                                         size=(64, 64))
    detector = load_detector(model=str(model), labels=["car", "bus"])
    assert detector.binding.kind == "yolo"
    assert detector.plan.letterbox
    assert summary(detector.detect(np.zeros((64, 128, 3), np.uint8))) == [
        ("car", 0.9, (0.375, 0.25, 0.625, 0.75)),
        ("bus", 0.7, (0.40625, 0.25, 0.65625, 0.75)),
        ("bus", 0.6, (0.6875, 0.125, 0.8125, 0.5)),
    ]


def test_yolo_decoder_transposed_tall_image(tmp_path: Path, load_detector) -> None:
    """[1, N, 4+C] with the default COCO-80 labels; a 64x128 frame is padded 32 columns left and right."""
    head = yolo_head(80, transposed=True, class_ids=(0, 2))
    model = onnx_models.constant_outputs(tmp_path / "yolo_t.onnx", {"output0": head}, size=(64, 64))
    detector = load_detector(model=str(model))
    assert len(detector.labels) == 80
    assert summary(detector.detect(np.zeros((128, 64, 3), np.uint8))) == [
        ("person", 0.9, (0.25, 0.375, 0.75, 0.625)),
        ("car", 0.7, (0.3125, 0.375, 0.8125, 0.625)),
        ("car", 0.6, (0.875, 0.3125, 1.0, 0.5)),  # x1 = 1.125 clipped to the frame
    ]


def test_yolo_nms_iou_setting(tmp_path: Path, load_detector) -> None:
    model = onnx_models.constant_outputs(tmp_path / "yolo.onnx", {"output0": yolo_head(2, transposed=False)},
                                         size=(64, 64))
    loose = load_detector(model=str(model), labels=["car", "bus"], nms_iou=0.9)
    assert [(d.label, round(d.score, 5)) for d in loose.detect(np.zeros((64, 64, 3), np.uint8))] == [
        ("car", 0.9), ("car", 0.8), ("bus", 0.7), ("bus", 0.6),
    ]


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]], float)
    scores = np.array([0.5, 0.9, 0.8, 0.1])
    assert decoders.nms(boxes, scores, 0.5).tolist() == [1, 2]


# --- Preprocessing and concurrency ------------------------------------------------


@pytest.mark.parametrize(("settings", "expected"), [
    ({}, {"r": 200, "g": 100, "b": 50}),
    ({"color_order": "BGR"}, {"b": 200, "g": 100, "r": 50}),  # channel 0 of the model gets blue
    ({"scale": 255.0}, {"r": 200 / 255, "g": 100 / 255, "b": 50 / 255}),
    ({"mean": [10.0], "scale": [2.0, 4.0, 5.0]}, {"r": 95, "g": 22.5, "b": 8}),
])
def test_preprocessing_happens_in_the_graph(tmp_path: Path, load_detector, settings: dict, expected: dict) -> None:
    """The model reports each input channel's mean, so colour order, mean, scale and resize are visible."""
    model = onnx_models.channel_means(tmp_path / "means.onnx", size=(16, 16))
    detector = load_detector(model=str(model), labels=["r", "g", "b"], threshold=0.0, **settings)
    frame = np.empty((30, 40, 3), np.uint8)
    frame[...] = (200, 100, 50)
    got = {d.label: d.score for d in detector.detect(frame)}
    assert got == pytest.approx(expected, rel=1e-5)


def test_detect_is_thread_safe(tmp_path: Path, load_detector) -> None:
    model = onnx_models.constant_outputs(tmp_path / "yolo.onnx", {"output0": yolo_head(2, transposed=False)},
                                         size=(64, 64))
    detector = load_detector(model=str(model), labels=["car", "bus"], num_requests=2)
    assert isinstance(detector, Detector)
    assert detector.concurrency == 2
    frame = np.zeros((64, 128, 3), np.uint8)
    expected = detector.detect(frame)
    results: list[list[Detection]] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(20):
            found = detector.detect(frame)
            with lock:
                results.append(found)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 120 and all(r == expected for r in results)
