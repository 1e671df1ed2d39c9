"""The detect_openvino plugin through a real PluginHost and a real loaded config."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from nvr.config import load_config
from nvr.detection import Detector
from nvr.errors import ConfigError, PluginError
from nvr.plugin_host import PluginHost
from nvr.plugins.detect_openvino import DetectOpenVinoConfig
from nvr.runtime import Runtime

from . import onnx_models
from .test_detect_openvino_decoders import TFOD_OUTPUTS


def runtime_for(tmp_path: Path, body: str) -> Runtime:
    host = PluginHost(load_entry_points=False)
    config = tmp_path / "nvr.toml"
    config.write_text('[storage]\nroot = "storage"\n' + textwrap.dedent(body), encoding="utf-8")
    return Runtime(loaded=load_config(config, host.config_models()), plugins=host, catalog=None)  # type: ignore[arg-type]


def factories(runtime: Runtime) -> dict[str, object]:
    merged: dict[str, object] = {}
    for plugin, offered in runtime.plugins.call_sync("register_detectors", runtime=runtime):
        merged.update({name: (plugin, factory) for name, factory in offered.items()})
    return merged


def test_builtin_offers_the_openvino_detector(tmp_path: Path) -> None:
    runtime = runtime_for(tmp_path, "")
    assert runtime.plugins.status["detect_openvino"].source == "builtin"
    assert runtime.plugin_config("detect_openvino") == DetectOpenVinoConfig()
    plugin, factory = factories(runtime)["openvino"]
    assert plugin == "detect_openvino"
    detector = factory()
    try:
        assert isinstance(detector, Detector)
        assert detector.name == "openvino" and list(detector.labels) == ["person"]
        assert detector.detect(np.full((120, 160, 3), 128, np.uint8)) == []
    finally:
        detector.close()


def test_config_table_reaches_the_detector(tmp_path: Path) -> None:
    onnx_models.constant_outputs(tmp_path / "models" / "tiny.onnx", TFOD_OUTPUTS, size=(32, 32))
    runtime = runtime_for(tmp_path, """
        [plugins.detect_openvino]
        model = "models/tiny.onnx"   # relative to the config file
        labels = ["", "walker", "", "cart"]
        threshold = 0.55
        num_requests = 1
        performance_hint = "LATENCY"
    """)
    cfg = runtime.plugin_config("detect_openvino")
    assert cfg.model == str(tmp_path / "models" / "tiny.onnx")
    _, factory = factories(runtime)["openvino"]
    detector = factory()
    try:
        assert detector.concurrency == 1
        assert [(d.label, round(d.score, 2)) for d in detector.detect(np.zeros((20, 20, 3), np.uint8))] == [
            ("walker", 0.95), ("cart", 0.6),
        ]
    finally:
        detector.close()


def test_factory_failure_names_the_model_file(tmp_path: Path) -> None:
    runtime = runtime_for(tmp_path, '[plugins.detect_openvino]\nmodel = "missing/person.xml"\n')
    _, factory = factories(runtime)["openvino"]
    with pytest.raises(PluginError, match=r"missing/person\.xml: model file does not exist"):
        factory()


@pytest.mark.parametrize(("body", "key", "message"), [
    ('device = "TPU"', "plugins.detect_openvino.device", "should match pattern"),
    ('decoder = "yolov5"', "plugins.detect_openvino.decoder", "Input should be"),
    ("threshold = 1.5", "plugins.detect_openvino.threshold", "less than or equal to 1"),
    ("scale = 0", "plugins.detect_openvino.scale", "cannot be 0"),
    ("mean = [1.0, 2.0]", "plugins.detect_openvino.mean", "one per channel"),
    ("modle = 'x.onnx'", "plugins.detect_openvino.modle", "unknown key"),
])
def test_bad_settings_are_config_errors(tmp_path: Path, body: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        runtime_for(tmp_path, f"[plugins.detect_openvino]\n{body}\n")
    (problem,) = info.value.problems
    assert problem.key == key and message in problem.message


def test_accepted_devices(tmp_path: Path) -> None:
    for device in ("CPU", "GPU", "GPU.1", "NPU", "AUTO", "AUTO:GPU,CPU", "MULTI:GPU.0,CPU"):
        assert DetectOpenVinoConfig(device=device).device == device
