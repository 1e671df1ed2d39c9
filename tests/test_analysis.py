"""Analysis end to end: simulated cameras showing real photos, real OpenVINO inference, events in the catalog."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from nvr.errors import PluginError
from nvr.storage.events_catalog import EventFilter
from tests.analysis_helpers import camera_toml, scene_server
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import wait_for
from tests.web.test_auth import client, login

pytestmark = pytest.mark.slow


async def events_of(server, **kw):
    return await server.runtime.catalog.list_events(EventFilter(**kw))


async def test_a_person_in_view_becomes_an_event_with_snapshot_and_box(write_config, start_server):
    async with scene_server("people-1") as sim:
        path = write_config(camera_toml(sim, fps=0.5))
        async with start_server(path) as server:
            found = []

            async def person_event() -> bool:
                found[:] = await events_of(server, label="person")
                return bool(found)

            deadline = asyncio.get_running_loop().time() + 15
            while not await person_event():
                assert asyncio.get_running_loop().time() < deadline, server.runtime.analysis.cameras["cam"].status()
                await asyncio.sleep(0.2)
            (event,) = found
            assert (event.camera, event.kind, event.ongoing, event.has_snapshot) == ("cam", "object", True, True)
            assert event.score >= 0.5
            x0, y0, x1, y1 = event.box
            assert 0.25 < x0 < 0.5 < x1 < 0.75 and y0 < 0.5 < y1  # the photo is in the middle of the frame
            snapshot = await server.runtime.catalog.event_snapshot(event.id)
            assert Image.open(io.BytesIO(snapshot)).size == (640, 360)
            status = server.runtime.analysis.cameras["cam"].status()
            assert status["keyframes_only"] is True and status["analysed"] >= 1
            async with client() as s:  # the camera list shows the analysis state and the open event
                await login(s, server.url, "admin", ADMIN_PASSWORD)
                async with s.get(server.url + "api/cameras") as resp:
                    (cam,) = (await resp.json())["cameras"]
                async with s.get(server.url + "cameras") as page:
                    html = await page.text()
            assert cam["analysis"]["state"] == "analysing" and cam["analysis"]["open_events"] == 1
            assert "1 open event" in html


async def test_an_empty_scene_yields_no_event(write_config, start_server):
    async with scene_server("empty") as sim:
        path = write_config(camera_toml(sim, fps=1) + "\n[analysis]\nrefresh_s = 1\n")
        async with start_server(path) as server:
            pipeline = server.runtime.analysis.cameras["cam"]
            await wait_for(lambda: pipeline.stats.detector_runs >= 4, timeout=20)  # the detector really ran
            assert await events_of(server) == []
            assert pipeline.stats.detections == 0


CROWD_RULE = """
[[analysis.rules]]
name = "tawuran"
type = "crowd"
min_count = {n}
seconds = 2
zone = "plaza"
severity = "critical"
agency = "Satpol PP"
"""
PLAZA = "[[cameras.detect.zones]]\nname = \"plaza\"\npoints = [[0, 0.4], [1, 0.4], [1, 1], [0, 1]]\n"


@pytest.mark.parametrize(("scene", "fires"), [("people-3", True), ("people-2", False)])
async def test_crowd_rule_fires_with_three_people_in_the_zone(write_config, start_server, scene, fires):
    async with scene_server(scene) as sim:
        path = write_config(camera_toml(sim, fps=1) + PLAZA + CROWD_RULE.format(n=3))
        async with start_server(path) as server:
            pipeline = server.runtime.analysis.cameras["cam"]
            if fires:
                await wait_for(lambda: pipeline.events.open_events and any(
                    e.kind == "tawuran" for e in pipeline.events.open_events), timeout=20)
            else:
                await wait_for(lambda: pipeline.stats.detector_runs >= 6, timeout=20)
            crowd = await events_of(server, kind="tawuran")
            persons = await events_of(server, label="person")
    if fires:
        (event,) = crowd
        assert (event.label, event.severity, event.agency, event.rule, event.zones) == (
            "crowd", "critical", "Satpol PP", "tawuran", ("plaza",))
        assert event.end_us - event.start_us >= 0 and len(persons) == 3
    else:
        assert crowd == [] and len(persons) == 2


async def test_a_missing_model_stops_start_up_naming_the_file(write_config, start_server, tmp_path):
    async with scene_server("empty") as sim:
        missing = tmp_path / "models" / "nope.xml"
        path = write_config(camera_toml(sim) + f'\n[plugins.detect_openvino]\nmodel = "{missing}"\n')
        with pytest.raises(PluginError, match="nope.xml"):
            async with start_server(path):
                pass


async def test_detection_disabled_loads_no_detector(write_config, start_server):
    async with scene_server("empty") as sim:
        path = write_config(camera_toml(sim).replace("enabled = true", "enabled = false"))
        async with start_server(path) as server:
            assert server.runtime.analysis.detector is None and not server.runtime.analysis.cameras
