"""Built-in plugin: object detection with OpenVINO (``[analysis] detector = "openvino"``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from nvr.hookspecs import hookimpl

from .config import DetectOpenVinoConfig

if TYPE_CHECKING:
    from nvr.detection import DetectorFactory
    from nvr.runtime import Runtime

    from .detector import OpenVinoDetector

__all__ = ["DetectOpenVinoConfig", "config_models", "register_detectors"]


@hookimpl
def config_models() -> dict[str, type[BaseModel]]:
    return {"detect_openvino": DetectOpenVinoConfig}


@hookimpl
def register_detectors(runtime: Runtime) -> dict[str, DetectorFactory]:
    def build() -> OpenVinoDetector:
        from .detector import OpenVinoDetector  # openvino loads only when this detector is selected

        cfg = runtime.plugin_config("detect_openvino")
        return OpenVinoDetector(cfg if isinstance(cfg, DetectOpenVinoConfig) else DetectOpenVinoConfig())

    return {"openvino": build}
