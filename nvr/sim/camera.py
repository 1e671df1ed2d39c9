"""A simulated camera as the RTSP server sees it: name, credentials, fault switches."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nvr.sim.faults import Faults
from nvr.sim.rtsp_auth import Credentials

STREAMS: dict[str, str] = {"main": "main", "sub": "sub"}  # URL path segment -> clip variant
ALTERNATE_VARIANT = "alt"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_camera_name(name: str) -> str:
    """Return ``name`` if it is usable as a URL path segment, else raise ``ValueError``."""
    if not _NAME.match(name):
        raise ValueError(f"invalid camera name {name!r}: use letters, digits, '_', '.', '-' (max 64)")
    return name


@dataclass
class Camera:
    """One simulated camera served under ``/<name>/main`` and ``/<name>/sub``."""

    name: str
    credentials: Credentials | None = None
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        validate_camera_name(self.name)
