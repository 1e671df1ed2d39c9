"""A small offline map as SVG: the complaint's point, the linking radius, nearby cameras and their view cones."""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

from .geo import EARTH_RADIUS_M

__all__ = ["MapCamera", "project", "svg_map"]

SIZE = 360
"""Width and height of the map in px."""
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180
"""Metres per degree of latitude (and of longitude at the equator) on the sphere ``geo`` measures with."""


@dataclass(frozen=True, slots=True)
class MapCamera:
    """A camera drawn on the map; ``linked`` ones are highlighted."""

    name: str
    lat: float
    lon: float
    direction: float | None = None
    fov: float | None = None
    linked: bool = False


def project(lat: float, lon: float, lat0: float, lon0: float, metres_per_px: float) -> tuple[float, float]:
    """Pixel position of (lat, lon) on a map centred on (lat0, lon0): east is right, north is up."""
    dx = (lon - lon0) * M_PER_DEG * math.cos(math.radians(lat0))
    dy = (lat - lat0) * M_PER_DEG
    return SIZE / 2 + dx / metres_per_px, SIZE / 2 - dy / metres_per_px


def _cone(x: float, y: float, direction: float, fov: float, length: float) -> str:
    half = min(fov, 359.0) / 2
    a1, a2 = math.radians(direction - half), math.radians(direction + half)
    x1, y1 = x + length * math.sin(a1), y - length * math.cos(a1)
    x2, y2 = x + length * math.sin(a2), y - length * math.cos(a2)
    large = 1 if fov > 180 else 0
    return f"M{x:.1f},{y:.1f} L{x1:.1f},{y1:.1f} A{length:.0f},{length:.0f} 0 {large} 1 {x2:.1f},{y2:.1f} Z"


def svg_map(lat: float, lon: float, radius_m: float, cameras: list[MapCamera]) -> Markup:
    """The map as inline SVG markup (names escaped); the radius circle fills about 80 % of it."""
    metres_per_px = radius_m / (SIZE * 0.4)
    r = radius_m / metres_per_px
    parts = [f'<svg class="complaint-map" xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" '
             f'viewBox="0 0 {SIZE} {SIZE}" role="img" aria-label="map of the complaint and nearby cameras">',
             f'<rect width="{SIZE}" height="{SIZE}" fill="#10161c"/>',
             f'<circle cx="{SIZE / 2}" cy="{SIZE / 2}" r="{r:.1f}" fill="#1d2a36" stroke="#3d5a73" '
             f'stroke-dasharray="4 3"/>',
             f'<text x="6" y="{SIZE - 8}" fill="#8aa" font-size="11">radius {radius_m:g} m · north up</text>']
    for cam in cameras:
        x, y = project(cam.lat, cam.lon, lat, lon, metres_per_px)
        if not (-20 <= x <= SIZE + 20 and -20 <= y <= SIZE + 20):
            continue
        colour = "#4fc3f7" if cam.linked else "#667"
        if cam.direction is not None:
            parts.append(f'<path d="{_cone(x, y, cam.direction, cam.fov or 90.0, 28)}" fill="{colour}" '
                         f'fill-opacity="0.25" stroke="none"/>')
        name = escape(cam.name)
        parts.append(f'<g class="map-camera" data-camera="{name}"><circle cx="{x:.1f}" cy="{y:.1f}" r="5" '
                     f'fill="{colour}"/><text x="{x + 7:.1f}" y="{y + 4:.1f}" fill="#cde" font-size="11">{name}'
                     f'</text></g>')
    parts.append(f'<g class="map-point"><circle cx="{SIZE / 2}" cy="{SIZE / 2}" r="7" fill="#e53935" '
                 f'stroke="#fff" stroke-width="2"/></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
