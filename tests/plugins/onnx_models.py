"""Tiny ONNX detection models with known outputs, built with onnx.helper for the decoder tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def _image_input(layout: str, size: tuple[int, int] | None, dtype: int) -> onnx.ValueInfoProto:
    """An image input; ``size`` is (width, height), None = dynamic height and width."""
    h, w = (size[1], size[0]) if size else ("height", "width")
    shape = [1, 3, h, w] if layout == "NCHW" else [1, h, w, 3]
    return helper.make_tensor_value_info("image", dtype, shape)


def _save(nodes: list, inputs: list, outputs: list, initializers: list, path: Path) -> Path:
    graph = helper.make_graph(nodes, "tiny_detector", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def constant_outputs(path: Path, outputs: dict[str, np.ndarray], layout: str = "NCHW",
                     size: tuple[int, int] | None = (32, 32), dtype: int = TensorProto.FLOAT) -> Path:
    """A model that returns the given arrays whatever the image (each output = constant + 0 x image)."""
    nodes, inits, outs = [], [], []
    nodes.append(helper.make_node("Cast", ["image"], ["image_f"], to=TensorProto.FLOAT))
    nodes.append(helper.make_node("ReduceMax", ["image_f"], ["peak"], keepdims=0))
    inits.append(numpy_helper.from_array(np.zeros((), np.float32), "zero"))
    nodes.append(helper.make_node("Mul", ["peak", "zero"], ["nothing"]))
    for name, value in outputs.items():
        value = np.asarray(value, dtype=np.float32)
        inits.append(numpy_helper.from_array(value, f"{name}_value"))
        nodes.append(helper.make_node("Add", [f"{name}_value", "nothing"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    return _save(nodes, [_image_input(layout, size, dtype)], outs, inits, path)


def channel_means(path: Path, size: tuple[int, int] = (16, 16)) -> Path:
    """A DetectionOutput-style model: row c has label c and confidence = mean of input channel c.

    Shows what the preprocessing put into the graph (colour order, mean, scale, resize).
    """
    inits = [
        numpy_helper.from_array(np.array([[0, 0], [0, 1], [0, 2]], np.float32), "ids"),
        numpy_helper.from_array(np.array([[0.1, 0.1, 0.9, 0.9]] * 3, np.float32), "boxes"),
        numpy_helper.from_array(np.array([1, 1, 3, 7], np.int64), "rows_shape"),
        numpy_helper.from_array(np.array([3, 1], np.int64), "column"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["means"], axes=[2, 3], keepdims=1),
        helper.make_node("Reshape", ["means", "column"], ["conf"]),
        helper.make_node("Concat", ["ids", "conf", "boxes"], ["rows"], axis=1),
        helper.make_node("Reshape", ["rows", "rows_shape"], ["detections"]),
    ]
    out = helper.make_tensor_value_info("detections", TensorProto.FLOAT, [1, 1, 3, 7])
    return _save(nodes, [_image_input("NCHW", size, TensorProto.FLOAT)], [out], inits, path)
