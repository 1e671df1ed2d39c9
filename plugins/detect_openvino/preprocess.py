"""Input preparation: a PrePostProcessor so the model takes uint8 RGB images of any size, plus letterboxing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openvino as ov
from openvino.preprocess import ColorFormat, PrePostProcessor, ResizeAlgorithm

from nvr.errors import PluginError

from .config import DetectOpenVinoConfig
from .decoders import Geometry
from .model_files import PackagedModel

YOLO_DEFAULT_SIZE = (640, 640)
LETTERBOX_FILL = 114  # the grey Ultralytics pads with


@dataclass(frozen=True)
class InputPlan:
    """How images reach the model: resized in the graph to ``size`` (w, h), or fed as they are (``None``)."""

    size: tuple[int, int] | None
    letterbox: bool


def _per_channel(value: float | list[float]) -> float | list[float]:
    """PPP takes a scalar or one value per channel."""
    if isinstance(value, list):
        return value if len(value) > 1 else value[0]
    return value


def _layout(shape: tuple[int | None, ...], cfg: DetectOpenVinoConfig, path: Path) -> str:
    if len(shape) != 4:
        raise PluginError(f"{path}: the image input has {len(shape)} dimensions; a detector needs 4 (NCHW or NHWC)")
    if cfg.layout:
        return cfg.layout
    if shape[1] == 3:
        return "NCHW"
    if shape[3] == 3:
        return "NHWC"
    raise PluginError(f"{path}: cannot tell the input layout from its shape {list(shape)}: set layout")


def _input(model: ov.Model, path: Path) -> ov.Output:
    if len(model.inputs) != 1:
        names = ", ".join(i.get_any_name() for i in model.inputs)
        raise PluginError(f"{path}: the model has {len(model.inputs)} inputs ({names}); a detector takes one image")
    return model.inputs[0]


def prepare_model(model: ov.Model, cfg: DetectOpenVinoConfig, path: Path, packaged: PackagedModel | None,
                  decoder: str, batch: int = 1) -> tuple[ov.Model, InputPlan]:
    """Fix the batch (1, or 1..``batch``) and size; put colour order, mean/scale, layout and resize in the graph."""
    port = _input(model, path)
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    layout = _layout(shape, cfg, path)
    h_ax, w_ax = (2, 3) if layout == "NCHW" else (1, 2)
    size = cfg.input_size or (packaged.input_size if packaged else None)
    if size is None and shape[w_ax] is not None and shape[h_ax] is not None:
        size = (shape[w_ax], shape[h_ax])
    if size is None and decoder == "yolo":
        size = YOLO_DEFAULT_SIZE
    new_shape: list[int | None | ov.Dimension] = list(shape)
    new_shape[0] = 1 if batch == 1 else ov.Dimension(1, batch)
    if size is not None:
        new_shape[w_ax], new_shape[h_ax] = size
    if new_shape != list(shape):
        try:
            model.reshape({port: ov.PartialShape([-1 if d is None else d for d in new_shape])})
        except Exception as exc:
            raise PluginError(f"{path}: cannot reshape the input {list(shape)} to {new_shape}: {exc}") from None
    is_float = model.inputs[0].get_element_type().is_real()
    scale = cfg.scale if cfg.scale is not None else (255.0 if decoder == "yolo" and is_float else None)
    ppp = PrePostProcessor(model)
    tensor = ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    tensor.set_color_format(ColorFormat.RGB)
    if size is not None:
        tensor.set_spatial_dynamic_shape()
    steps = ppp.input().preprocess()
    if size is not None:
        steps.resize(ResizeAlgorithm.RESIZE_LINEAR)
    if is_float or cfg.mean is not None or scale is not None:
        steps.convert_element_type(ov.Type.f32)
    if (cfg.color_order or "RGB") == "BGR":
        steps.convert_color(ColorFormat.BGR)
    if cfg.mean is not None:
        steps.mean(_per_channel(cfg.mean))
    if scale is not None:
        steps.scale(_per_channel(scale))
    ppp.input().model().set_layout(ov.Layout(layout))
    try:
        built = ppp.build()
    except Exception as exc:
        raise PluginError(f"{path}: cannot build the input preprocessing: {exc}") from None
    letterbox = cfg.letterbox if cfg.letterbox is not None else decoder == "yolo"
    return built, InputPlan(size, letterbox and size is not None)


def to_input(image: np.ndarray, plan: InputPlan) -> tuple[np.ndarray, Geometry]:
    """The ``[1,H,W,3]`` uint8 tensor for one RGB image, and where the image sits in it."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"detect() takes an RGB uint8 image of shape (height, width, 3), got {got}")
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise ValueError("detect() got an empty image")
    if plan.size is None:
        return np.ascontiguousarray(image)[None], Geometry.stretch(w, h, w, h)
    in_w, in_h = plan.size
    if not plan.letterbox:
        return np.ascontiguousarray(image)[None], Geometry.stretch(w, h, in_w, in_h)
    # Pad to the input's aspect ratio; the graph's resize then scales without distortion.
    canvas_w, canvas_h = max(w, round(h * in_w / in_h)), max(h, round(w * in_h / in_w))
    left, top = (canvas_w - w) // 2, (canvas_h - h) // 2
    if (canvas_w, canvas_h) == (w, h):
        return np.ascontiguousarray(image)[None], Geometry.stretch(w, h, in_w, in_h)
    canvas = np.full((1, canvas_h, canvas_w, 3), LETTERBOX_FILL, dtype=np.uint8)
    canvas[0, top:top + h, left:left + w] = image
    return canvas, Geometry(w, h, in_w, in_h, canvas_w, canvas_h, left, top)
