"""Topics and JSON payloads of everything the bus publishes (docs/mqtt.md is their reference)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from nvr.models import Event
from nvr.storage.plates_catalog import PlateSighting

from .config import MqttConfig

ONLINE, OFFLINE = "online", "offline"
EVENT_TYPES = ("started", "updated", "ended")


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message waiting to be published."""

    topic: str
    payload: bytes
    retain: bool = False


def iso(time_us: int) -> str:
    """UTC µs as ISO 8601 with a Z (milliseconds)."""
    moment = datetime.fromtimestamp(time_us / 1_000_000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def availability_topic(cfg: MqttConfig) -> str:
    return cfg.topic("nodes", cfg.node_name, "availability")


def state_topic(cfg: MqttConfig, camera: str) -> str:
    return cfg.topic("cameras", camera, "state")


def camera_state(cfg: MqttConfig, camera: str, state: str, previous: str | None, detail: str | None,
                 since_us: int) -> Message:
    """The retained state of one camera."""
    payload = {"camera": camera, "state": state, "previous": previous, "detail": detail,
               "since": iso(since_us), "since_us": since_us, "node": cfg.node_name}
    return Message(state_topic(cfg, camera), _json(payload), retain=True)


def event_message(cfg: MqttConfig, kind: str, event: Event, reason: str | None = None) -> Message:
    """An event started, updated or ended (``kind``); never retained. ``reason`` says why it ended early."""
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown event message type {kind!r}")
    footage_start, footage_end = event.footage
    payload = {
        "type": kind, "id": event.id, "camera": event.camera, "kind": event.kind, "label": event.label,
        "score": round(event.score, 4), "start": iso(event.start_us), "end": iso(event.end_us),
        "start_us": event.start_us, "end_us": event.end_us, "ongoing": event.ongoing,
        "track_id": event.track_id, "box": list(event.box) if event.box else None, "zones": list(event.zones),
        "severity": event.severity, "agency": event.agency, "rule": event.rule,
        "has_snapshot": event.has_snapshot, "footage_start_us": footage_start, "footage_end_us": footage_end,
        "path": f"/events/{event.id}", "node": cfg.node_name,
    }
    if reason is not None:
        payload["reason"] = reason
    return Message(cfg.topic("events", event.camera, event.kind), _json(payload))


def sighting_message(cfg: MqttConfig, sighting: PlateSighting) -> Message:
    """A stored plate sighting; ``alert_event_id`` is set when it matched the watchlist."""
    payload = {
        "id": sighting.id, "camera": sighting.camera, "plate": sighting.plate, "plate_key": sighting.plate_key,
        "confidence": round(sighting.confidence, 4), "reads": sighting.reads,
        "first": iso(sighting.first_us), "last": iso(sighting.last_us), "first_us": sighting.first_us,
        "last_us": sighting.last_us, "best_us": sighting.best_us, "track_id": sighting.track_id,
        "box": list(sighting.box) if sighting.box else None, "has_crop": sighting.has_crop,
        "alert_event_id": sighting.alert_event_id, "watch_plate": sighting.watch_plate, "node": cfg.node_name,
    }
    return Message(cfg.topic("plates", sighting.camera), _json(payload))
