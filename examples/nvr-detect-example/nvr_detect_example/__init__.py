"""nvr plugin: offers the ``example_color`` detector, configured by ``[plugins.detect_example]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from nvr.hookspecs import hookimpl

from .detector import RedObjectDetector

if TYPE_CHECKING:
    from nvr.detection import DetectorFactory
    from nvr.runtime import Runtime


class DetectExampleConfig(BaseModel):
    """``[plugins.detect_example]``: how big a red blob must be to count."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_area: int = Field(64, ge=1, title="Smallest red blob reported, in pixels")
    cell: int = Field(8, ge=1, le=64, title="Grid cell size in pixels; red cells that touch form one object")


@hookimpl
def config_models() -> dict[str, type[BaseModel]]:
    return {"detect_example": DetectExampleConfig}


@hookimpl
def register_detectors(runtime: Runtime) -> dict[str, DetectorFactory]:
    def build() -> RedObjectDetector:
        cfg = runtime.plugin_config("detect_example")
        settings = cfg if isinstance(cfg, DetectExampleConfig) else DetectExampleConfig()
        return RedObjectDetector(min_area=settings.min_area, cell=settings.cell)

    return {"example_color": build}
