"""Plate sightings: the lpr plugin calls ``plate_sighted`` with each stored sighting; the bus publishes it."""

from __future__ import annotations

import pytest

from nvr.hookspecs import hookimpl
from nvr.sim.plate_scene import PLATE_SCENE_PLATES
from tests.helpers import wait_for
from tests.plugins.test_mqtt_bus import Broker, Subscriber, broker  # noqa: F401 - the fixture
from tests.test_lpr_end_to_end import lpr_toml, plate_camera, sightings_of

pytestmark = pytest.mark.slow


class Sightings:
    """A plugin that keeps what ``plate_sighted`` gives it."""

    def __init__(self) -> None:
        self.seen: list = []

    @hookimpl
    def plate_sighted(self, sighting, runtime) -> None:
        self.seen.append(sighting)


async def test_hook_plate_sighted(broker: Broker, write_config, start_server) -> None:  # noqa: F811
    hook = Sightings()
    mqtt = f'\n[plugins.mqtt]\nport = {broker.port}\nnode = "node-a"\n'
    async with plate_camera() as sim, Subscriber(broker.port) as sub:
        async with start_server(write_config(lpr_toml(sim) + mqtt), plugins=[("sightings", hook)]) as server:
            await wait_for(lambda: len(hook.seen) >= 2, timeout=120)
            await wait_for(lambda: len(sub.of("nvr/plates/cam")) >= 2)
            stored = {s.id: s for s in await sightings_of(server)}
    for sighting in hook.seen[:2]:
        assert stored[sighting.id] == sighting  # exactly what the catalog holds
        assert sighting.plate in PLATE_SCENE_PLATES and sighting.camera == "cam" and sighting.has_crop
    published = {m["id"]: m for m in sub.of("nvr/plates/cam")}
    first = hook.seen[0]
    assert published[first.id] | {"first": None, "last": None} == {
        "id": first.id, "camera": "cam", "plate": first.plate, "plate_key": first.plate_key,
        "confidence": round(first.confidence, 4), "reads": first.reads, "first": None, "last": None,
        "first_us": first.first_us, "last_us": first.last_us, "best_us": first.best_us, "track_id": first.track_id,
        "box": list(first.box) if first.box else None, "has_crop": True, "alert_event_id": None,
        "watch_plate": None, "node": "node-a"}
