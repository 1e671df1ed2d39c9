"""Built-in plugin: the MQTT event bus (events, retained camera states, plate sightings, node availability)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pydantic import BaseModel

from nvr.clock import now_us
from nvr.hookspecs import hookimpl

from .config import MqttConfig

if TYPE_CHECKING:
    from nvr.models import Event
    from nvr.runtime import Runtime
    from nvr.storage.plates_catalog import PlateSighting

    from .bus import MqttBus

__all__ = ["MqttConfig", "bus_of", "camera_state_changed", "config_models", "event_ended", "event_started",
           "event_updated", "plate_sighted", "shutdown", "startup"]

log = logging.getLogger(__name__)

BUS_KEY = "mqtt"
OPEN_KEY = "mqtt.open_events"
PLUGIN_NAME = "mqtt"
HEALTH_HOOK = "mqtt connection"
"""Shown as the failing "hook" in the plugin status while the broker is unreachable."""


def bus_of(runtime: Runtime) -> MqttBus | None:
    """The running bus, or None (no ``[plugins.mqtt]`` table, or ``enabled = false``)."""
    return runtime.extras.get(BUS_KEY)


def _health(runtime: Runtime):  # noqa: ANN202 - a closure over the plugin's status row
    def report(reason: str | None) -> None:
        status = runtime.plugins.status.get(PLUGIN_NAME)
        if status is None:
            return
        if reason is not None:
            status.last_error, status.last_error_hook = reason, HEALTH_HOOK
        elif status.last_error_hook == HEALTH_HOOK:
            status.last_error = status.last_error_hook = None

    return report


@hookimpl
def config_models() -> dict[str, type[BaseModel]]:
    return {"mqtt": MqttConfig}


@hookimpl
def startup(runtime: Runtime) -> None:
    cfg = runtime.plugin_config("mqtt")
    if "mqtt" not in runtime.config.plugins or not isinstance(cfg, MqttConfig) or not cfg.enabled:
        return
    from .bus import MqttBus  # aiomqtt loads only when the bus is on
    from .payloads import camera_state

    bus = runtime.extras[BUS_KEY] = MqttBus(cfg, _health(runtime))
    for status in runtime.cameras.statuses() if runtime.cameras else []:
        since = round(status.since.timestamp() * 1_000_000)
        bus.set_state(status.name, camera_state(cfg, status.name, status.state, None, status.detail, since))
    bus.start()  # connects in the background: start-up never waits for the broker
    log.info("mqtt: publishing to %s:%d under %s/ as node %s", cfg.host, cfg.port, cfg.prefix, cfg.node_name)


@hookimpl
async def shutdown(runtime: Runtime) -> None:
    bus = runtime.extras.pop(BUS_KEY, None)
    if bus is None:
        return
    # nvr runs the shutdown hooks before analysis ends the open events: end them here, as last known
    from dataclasses import replace

    from .payloads import event_message

    for event in runtime.extras.pop(OPEN_KEY, {}).values():
        bus.publish(event_message(bus.cfg, "ended", replace(event, ongoing=False), reason="server stopping"))
    await bus.stop()


@hookimpl
def camera_state_changed(camera: str, old: str, new: str, detail: str | None, runtime: Runtime) -> None:
    bus = bus_of(runtime)
    if bus is not None:
        from .payloads import camera_state

        bus.set_state(camera, camera_state(bus.cfg, camera, new, old, detail, now_us(runtime.clock)))


def _event(kind: str, event: Event, runtime: Runtime) -> None:
    bus = bus_of(runtime)
    if bus is not None:
        from .payloads import event_message

        bus.publish(event_message(bus.cfg, kind, event))
        open_events = runtime.extras.setdefault(OPEN_KEY, {})
        if kind == "ended":
            open_events.pop(event.id, None)
        else:
            open_events[event.id] = event


@hookimpl
def event_started(event: Event, runtime: Runtime) -> None:
    _event("started", event, runtime)


@hookimpl
def event_updated(event: Event, runtime: Runtime) -> None:
    _event("updated", event, runtime)


@hookimpl
def event_ended(event: Event, runtime: Runtime) -> None:
    _event("ended", event, runtime)


@hookimpl
def plate_sighted(sighting: PlateSighting, runtime: Runtime) -> None:
    bus = bus_of(runtime)
    if bus is not None and bus.cfg.plates:
        from .payloads import sighting_message

        bus.publish(sighting_message(bus.cfg, sighting))
