"""The example third-party detector, found by its entry point, drives real events and a label rule end to end."""

from __future__ import annotations

import pytest

from nvr.app import Server
from nvr.plugin_host import PluginHost
from nvr.storage.events_catalog import EventFilter
from tests.analysis_helpers import camera_toml, scene_server
from tests.helpers import wait_for
from tests.plugins.test_example_detector import example_installed  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

FIRE_RULE = """
[analysis]
detector = "example_color"

[[analysis.rules]]
name = "kebakaran"
type = "label"
labels = ["red_object"]
severity = "critical"
agency = "Damkar"
event_kind = "fire"
"""


async def test_example_detections_become_events(example_installed, write_config) -> None:  # noqa: F811
    async with scene_server("red-ball") as sim:
        path = write_config(FIRE_RULE + camera_toml(sim, fps=1, detect='objects = ["red_object"]'))
        async with Server(path, plugins=PluginHost()) as server:  # entry points loaded, as `nvr run` does
            assert server.plugins.status["detect_example"].source.startswith("entry point")
            assert server.runtime.analysis.detector.name == "example_color"
            pipeline = server.runtime.analysis.cameras["cam"]
            await wait_for(lambda: {e.kind for e in pipeline.events.open_events} == {"object", "fire"}, timeout=20)
            events = await server.runtime.catalog.list_events(EventFilter())
    by_kind = {e.kind: e for e in events}
    ball = by_kind["object"]
    assert (ball.label, ball.has_snapshot) == ("red_object", True)
    x0, y0, x1, y1 = ball.box
    assert y1 > 0.75 and 0.07 < (x1 - x0) < 0.12  # the ball rolls along the bottom of the frame: 120 px of 1280
    fire = by_kind["fire"]
    assert (fire.label, fire.severity, fire.agency, fire.rule) == ("red_object", "critical", "Damkar", "kebakaran")
