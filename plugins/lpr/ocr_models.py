"""The PP-OCR text detection and recognition models of the ``rapidocr`` wheel, by path, compiled with OpenVINO."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13

from nvr.errors import PluginError

log = logging.getLogger(__name__)

DISTRIBUTION = "rapidocr"
VERSION = "3.10.0"
DET_FILE = "models/PP-OCRv6_det_small.onnx"
REC_FILE = "models/PP-OCRv6_rec_small.onnx"
INSTALL = f"pip install --no-deps {DISTRIBUTION}=={VERSION}"
PLATE_CHARS = frozenset(string.ascii_letters + string.digits + string.punctuation + " ")
"""Classes the recogniser keeps: the dictionary's other 18,000 (CJK and more) never appear on a plate."""


def _package_dir() -> Path | None:
    """Where ``rapidocr`` is installed, found without importing it (it imports opencv, which nvr lacks)."""
    try:
        spec = importlib.util.find_spec(DISTRIBUTION)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    try:
        return Path(str(importlib.metadata.distribution(DISTRIBUTION).locate_file(DISTRIBUTION)))
    except importlib.metadata.PackageNotFoundError:
        return None


def model_path(file: str, override: str | None = None) -> Path:
    """The model file: ``override`` when given, else ``file`` inside the installed wheel; PluginError when absent."""
    if override:
        path = Path(override)
        if not path.is_file():
            raise PluginError(f"{path}: OCR model file does not exist")
        return path
    directory = _package_dir()
    path = directory / file if directory is not None else None
    if path is None or not path.is_file():
        raise PluginError(
            f"the plate reader needs {DISTRIBUTION}/{file}, which is not installed: run `{INSTALL}` (without "
            "its dependencies: it pins opencv and onnxruntime, which nvr does not need), or scripts/setup")
    return path


def _reason(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Exception from src", "Check '"))]
    return " ".join(useful or lines) or type(exc).__name__


@dataclass(frozen=True)
class OcrModels:
    """Compiled detection and recognition models and the recogniser's dictionary (index 0 = CTC blank)."""

    det: ov.CompiledModel
    rec: ov.CompiledModel
    charset: tuple[str, ...]
    det_path: Path
    rec_path: Path


def read_charset(model: ov.Model, path: Path) -> tuple[str, ...]:
    """The CTC classes: blank, the dictionary in rt_info ``framework/character``, then space."""
    try:
        text = model.get_rt_info(["framework", "character"]).astype(str)
    except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError for a missing key
        raise PluginError(f"{path}: no dictionary in the model's rt_info framework/character "
                          f"({_reason(exc)})") from None
    chars = text.split("\n")
    classes = int(model.outputs[0].get_partial_shape()[-1].get_length())
    charset = ("", *chars, " ")
    if len(charset) != classes:
        raise PluginError(f"{path}: the dictionary has {len(chars)} characters but the model scores {classes} "
                          "classes (expected blank + dictionary + space)")
    return charset


def _source(node: ov.Node, port: int = 0) -> ov.Node:
    node = node.input(port).get_source_output().get_node()
    while node.get_type_name() in ("Identity", "Convert"):
        node = node.input(0).get_source_output().get_node()
    return node


def prune_classes(model: ov.Model, charset: tuple[str, ...], keep: frozenset[str] = PLATE_CHARS
                  ) -> tuple[str, ...]:
    """Cut the classifier (``Softmax(x @ W + b)``) down to the blank and the ``keep`` characters, in place.

    A third of the recogniser's time goes to scoring 18,710 classes, and the softmax over the kept ones is
    the distribution decoding needs anyway. Returns the new charset; a model of another shape is left whole.
    """
    softmax = _source(model.get_results()[0])
    add = _source(softmax) if softmax.get_type_name().startswith("Softmax") else None
    matmul = _source(add) if add is not None and add.get_type_name() == "Add" else None
    if matmul is None or matmul.get_type_name() != "MatMul":
        log.info("recogniser: no Softmax(MatMul + Add) head; keeping all %d classes", len(charset))
        return charset
    weights, bias = _source(matmul, 1), _source(add, 1)
    if weights.get_type_name() != "Constant" or bias.get_type_name() != "Constant":
        return charset
    index = np.array([0] + [i for i, c in enumerate(charset) if i and c in keep], dtype=np.int64)
    w, b = weights.get_data(), bias.get_data()
    if w.ndim != 2 or w.shape[1] != len(charset) or b.shape[-1] != len(charset):
        return charset
    matmul.input(1).replace_source_output(opset13.constant(np.ascontiguousarray(w[:, index])).output(0))
    add.input(1).replace_source_output(opset13.constant(np.ascontiguousarray(b[..., index])).output(0))
    model.validate_nodes_and_infer_types()
    return tuple(charset[i] for i in index)


def load_models(device: str = "CPU", det_override: str | None = None, rec_override: str | None = None,
                threads: int = 0) -> OcrModels:
    """Read and compile both models for ``device``; every failure is a PluginError naming the file."""
    core = ov.Core()
    det_path = model_path(DET_FILE, det_override)
    rec_path = model_path(REC_FILE, rec_override)
    props: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
    if threads and device.startswith("CPU"):
        props["INFERENCE_NUM_THREADS"] = threads
    compiled = []
    for path in (det_path, rec_path):
        try:
            model = core.read_model(str(path))
        except Exception as exc:  # noqa: BLE001
            raise PluginError(f"{path}: OpenVINO cannot read the model: {_reason(exc)}") from None
        if path == rec_path:
            charset = prune_classes(model, read_charset(model, path))
        try:
            compiled.append(core.compile_model(model, device, props))
        except Exception as exc:  # noqa: BLE001
            raise PluginError(f"{path}: OpenVINO cannot compile the model for {device}: {_reason(exc)}") from None
    log.info("plate reader: %s and %s on %s", det_path.name, rec_path.name, device)
    return OcrModels(compiled[0], compiled[1], charset, det_path, rec_path)
