"""The example third-party detector package: installed, discovered by its entry point, and detecting."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import site
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nvr.config import load_config
from nvr.detection import Detector
from nvr.plugin_host import PluginHost
from nvr.runtime import Runtime

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nvr-detect-example"


def _installed_from_here() -> bool:
    try:
        dist = importlib.metadata.distribution("nvr-detect-example")
    except importlib.metadata.PackageNotFoundError:
        return False
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    return direct_url.get("url") == EXAMPLE.as_uri() and direct_url.get("dir_info", {}).get("editable", False)


@pytest.fixture(scope="module")
def example_installed() -> None:
    """Install the example (editable, no build isolation: ~2 s) unless this checkout's copy already is."""
    if not _installed_from_here():
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", "-e", str(EXAMPLE)],
            capture_output=True, text=True,
        )
        assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
        importlib.invalidate_caches()
        # An editable install works through a .pth file, which Python reads at start-up: read it now.
        site.addsitedir(sysconfig.get_paths()["purelib"])
    assert _installed_from_here()


def runtime_for(tmp_path: Path, body: str) -> Runtime:
    host = PluginHost()  # built-ins and every installed entry point, as `nvr run` does
    config = tmp_path / "nvr.toml"
    config.write_text('[storage]\nroot = "storage"\n' + textwrap.dedent(body), encoding="utf-8")
    return Runtime(loaded=load_config(config, host.config_models()), plugins=host, catalog=None)  # type: ignore[arg-type]


def test_example_plugin_is_discovered_by_its_entry_point(example_installed: None, tmp_path: Path) -> None:
    (entry_point,) = [ep for ep in importlib.metadata.entry_points(group="nvr") if ep.name == "detect_example"]
    assert entry_point.value == "nvr_detect_example"
    runtime = runtime_for(tmp_path, "[plugins.detect_example]\nmin_area = 50\n")
    status = runtime.plugins.status["detect_example"]
    assert status.source == "entry point nvr_detect_example" and status.load_error is None
    assert runtime.plugin_config("detect_example").min_area == 50
    offered = {name: (plugin, factory) for plugin, result in runtime.plugins.call_sync(
        "register_detectors", runtime=runtime) for name, factory in result.items()}
    assert offered["example_color"][0] == "detect_example"
    assert offered["openvino"][0] == "detect_openvino"  # the built-in is offered beside it


def test_example_detector_finds_a_red_square(example_installed: None, tmp_path: Path) -> None:
    runtime = runtime_for(tmp_path, "[plugins.detect_example]\nmin_area = 50\n")
    (factory,) = [result["example_color"] for _, result in runtime.plugins.call_sync(
        "register_detectors", runtime=runtime) if "example_color" in result]
    detector = factory()
    assert isinstance(detector, Detector)
    assert list(detector.labels) == ["red_object"]
    frame = np.full((240, 320, 3), (90, 120, 90), np.uint8)  # a dull green field
    frame[60:100, 200:260] = (220, 30, 40)                    # a red box: x 200-260, y 60-100
    frame[200:205, 20:25] = (230, 20, 20)                     # 25 red pixels: below min_area
    frame[150:190, 40:80] = (200, 90, 90)                     # pinkish, not saturated red
    (found,) = detector.detect(frame)
    assert found.label == "red_object" and found.score == 1.0
    assert found.box == pytest.approx((200 / 320, 60 / 240, 260 / 320, 100 / 240))
    assert detector.detect(np.full((240, 320, 3), 128, np.uint8)) == []
    detector.close()
