"""Pure geometry for linking: great-circle distance, bearing, field of view, and the ranking of nearby cameras."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["EARTH_RADIUS_M", "DEFAULT_FOV_DEG", "CameraSpot", "Nearby", "bearing_deg", "facing", "haversine_m",
           "nearby_cameras"]

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""
DEFAULT_FOV_DEG = 90.0
"""Field of view assumed for a camera with a direction but no ``fov_deg``."""
SAME_SPOT_M = 1.0
"""A point closer than this to a camera is under it: seen whatever the direction."""


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS 84 points (haversine on a sphere)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing from point 1 to point 2, degrees clockwise from north in [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def facing(direction: float | None, fov: float | None, bearing: float, distance_m: float = SAME_SPOT_M) -> bool | None:
    """Whether a camera looking at ``direction`` with ``fov`` sees a point at ``bearing``; None if unknown.

    The edges of the field of view count as inside; a point under the camera is always seen.
    """
    if direction is None:
        return None
    if distance_m < SAME_SPOT_M:
        return True
    width = DEFAULT_FOV_DEG if fov is None else fov
    off = abs((bearing - direction + 180.0) % 360.0 - 180.0)
    return off <= width / 2.0 + 1e-9


@dataclass(frozen=True, slots=True)
class CameraSpot:
    """Where a camera stands and looks."""

    name: str
    lat: float
    lon: float
    direction: float | None = None
    fov: float | None = None


@dataclass(frozen=True, slots=True)
class Nearby:
    """A camera inside the radius: its distance and bearing to the point, and whether it faces it."""

    name: str
    distance_m: float
    bearing_deg: float
    facing: bool | None


def _facing_rank(value: bool | None) -> int:
    return {True: 0, None: 1, False: 2}[value]


def nearby_cameras(lat: float, lon: float, cameras: Iterable[CameraSpot], radius_m: float) -> list[Nearby]:
    """Cameras within ``radius_m`` of the point (the edge included), best first.

    Best: cameras facing the point, then those whose direction is unknown, then those facing away; each group
    by distance, then name.
    """
    found = []
    for cam in cameras:
        distance = haversine_m(cam.lat, cam.lon, lat, lon)
        if distance > radius_m:
            continue
        bearing = bearing_deg(cam.lat, cam.lon, lat, lon)
        found.append(Nearby(cam.name, distance, bearing, facing(cam.direction, cam.fov, bearing, distance)))
    return sorted(found, key=lambda n: (_facing_rank(n.facing), n.distance_m, n.name))
