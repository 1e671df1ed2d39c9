"""Finding, reading and compiling a model with OpenVINO; every failure names the file and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openvino as ov

from nvr.errors import PluginError

from .config import DetectOpenVinoConfig, is_model_path
from .decoders import OutputInfo
from .model_files import PackagedModel, packaged_model, packaged_model_path

_VIRTUAL = ("AUTO", "MULTI", "HETERO", "BATCH")


def resolve_model(cfg: DetectOpenVinoConfig) -> tuple[Path, PackagedModel | None]:
    """The model file to load, and its packaged description when ``model`` is a packaged name."""
    if not is_model_path(cfg.model):
        packaged = packaged_model(cfg.model)
        return packaged_model_path(packaged), packaged
    path = Path(cfg.model)
    if not path.exists():
        raise PluginError(f"{path}: model file does not exist")
    if not path.is_file():
        raise PluginError(f"{path}: model path is not a file")
    if path.suffix.lower() == ".xml" and not path.with_suffix(".bin").is_file():
        raise PluginError(f"{path}: the IR's weights file {path.with_suffix('.bin').name} does not exist")
    return path, None


def _reason(exc: Exception) -> str:
    """OpenVINO's message without its C++ source locations, on one line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Exception from src", "Check '"))]
    return " ".join(useful or lines) or type(exc).__name__


def read_model(core: ov.Core, path: Path) -> ov.Model:
    """``core.read_model`` with errors that say which file and why."""
    try:
        return core.read_model(str(path))
    except Exception as exc:  # OpenVINO raises RuntimeError and friends with its reason
        raise PluginError(f"{path}: OpenVINO cannot read the model: {_reason(exc)}") from None


def output_infos(model: ov.Model) -> list[OutputInfo]:
    """Names and partial shapes of the model's outputs, for choosing a decoder."""
    infos = []
    for out in model.outputs:
        shape = tuple(d.get_length() if d.is_static else None for d in out.get_partial_shape())
        infos.append(OutputInfo(frozenset(out.get_names()), shape))
    return infos


def check_device(core: ov.Core, device: str, path: Path) -> None:
    """PluginError listing the available devices when ``device`` (or all of AUTO's candidates) is absent."""
    available = list(core.available_devices)

    def present(name: str) -> bool:
        return name in available or any(a.split(".", 1)[0] == name for a in available)

    family, _, candidates = device.partition(":")
    if family.split(".", 1)[0] in _VIRTUAL:
        wanted = [c for c in candidates.split(",") if c]
        ok = any(present(c) for c in wanted) if wanted else bool(available)
    else:
        ok = present(device)
    if not ok:
        raise PluginError(
            f"{path}: OpenVINO device {device!r} is not available on this machine "
            f"(available: {', '.join(available) or 'none'})"
        )


def compile_model(core: ov.Core, model: ov.Model, cfg: DetectOpenVinoConfig, path: Path) -> ov.CompiledModel:
    """Compile once for the configured device and performance hint."""
    check_device(core, cfg.device, path)
    properties: dict[str, Any] = {"PERFORMANCE_HINT": cfg.performance_hint}
    if cfg.num_requests:
        properties["PERFORMANCE_HINT_NUM_REQUESTS"] = cfg.num_requests
    if cfg.cache_dir:
        properties["CACHE_DIR"] = cfg.cache_dir
    try:
        return core.compile_model(model, cfg.device, properties)
    except Exception as exc:
        raise PluginError(f"{path}: OpenVINO cannot compile the model for {cfg.device}: {_reason(exc)}") from None


def request_count(compiled: ov.CompiledModel, cfg: DetectOpenVinoConfig) -> int:
    """``num_requests``, or OpenVINO's ``OPTIMAL_NUMBER_OF_INFER_REQUESTS`` when it is 0."""
    if cfg.num_requests:
        return cfg.num_requests
    try:
        return max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    except Exception:  # a plugin without the property: one request is always right
        return 1
