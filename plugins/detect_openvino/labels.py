"""Class labels: the COCO lists models ship with, and labels files given by path."""

from __future__ import annotations

from pathlib import Path

from nvr.errors import PluginError

COCO_91: tuple[str, ...] = (
    "", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "", "backpack", "umbrella", "",
    "", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat",
    "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "", "wine glass", "cup", "fork", "knife",
    "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
    "donut", "cake", "chair", "couch", "potted plant", "bed", "", "dining table", "", "",
    "toilet", "", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
    "toaster", "sink", "refrigerator", "", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush",
)
"""TF Object Detection API / COCO ids: index = class id, 0 = background, "" = an id COCO never used."""

COCO_80: tuple[str, ...] = tuple(label for label in COCO_91 if label)
"""YOLO (Ultralytics) class ids 0-79."""


def read_labels(path: str) -> list[str]:
    """One label a line (blank lines kept as gaps, trailing blank lines dropped); errors name the file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PluginError(f"{file}: labels file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PluginError(f"{file}: cannot read the labels file: {exc}") from None
    labels = [line.strip() for line in text.splitlines()]
    while labels and not labels[-1]:
        labels.pop()
    if not labels:
        raise PluginError(f"{file}: labels file is empty")
    return labels


def label_of(labels: tuple[str, ...], class_id: int) -> str:
    """The label of a class id; ``class_<id>`` when the list has no (or an empty) entry for it."""
    if 0 <= class_id < len(labels) and labels[class_id]:
        return labels[class_id]
    return f"class_{class_id}"
