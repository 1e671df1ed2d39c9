"""Point-in-polygon over GeoJSON boundaries: polygons with holes and multipolygons, coordinates as [lon, lat]."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvr.zones import point_in_polygon

Ring = tuple[tuple[float, float], ...]
Polygon = tuple[Ring, ...]
"""The outer ring first, then its holes."""


class BoundaryError(ValueError):
    """A GeoJSON boundary file that cannot be used; the message names the feature and the reason."""


@dataclass(frozen=True, slots=True)
class Boundary:
    """One named area (a kelurahan) as one or more polygons, with its bounding box for a cheap first test."""

    name: str
    polygons: tuple[Polygon, ...]
    properties: tuple[tuple[str, str], ...] = ()

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        xs = [x for poly in self.polygons for x, _ in poly[0]]
        ys = [y for poly in self.polygons for _, y in poly[0]]
        return min(xs), min(ys), max(xs), max(ys)

    def prop(self, key: str) -> str | None:
        return dict(self.properties).get(key)


def in_ring(x: float, y: float, ring: Ring) -> bool:
    """Ray casting (even-odd) over one ring; a point exactly on an edge may fall either way."""
    return point_in_polygon(x, y, ring)


def in_polygon(x: float, y: float, polygon: Polygon) -> bool:
    """Inside the outer ring and outside every hole."""
    return bool(polygon) and in_ring(x, y, polygon[0]) and not any(in_ring(x, y, hole) for hole in polygon[1:])


def contains(boundary: Boundary, lon: float, lat: float) -> bool:
    """Whether the point lies inside any of the boundary's polygons."""
    x0, y0, x1, y1 = boundary.bbox
    if not (x0 <= lon <= x1 and y0 <= lat <= y1):
        return False
    return any(in_polygon(lon, lat, poly) for poly in boundary.polygons)


def locate(boundaries: list[Boundary], lon: float, lat: float) -> Boundary | None:
    """The first boundary containing the point (file order), or None."""
    for boundary in boundaries:
        if contains(boundary, lon, lat):
            return boundary
    return None


def _ring(raw: Any, where: str) -> Ring:
    if not isinstance(raw, list) or len(raw) < 4:
        raise BoundaryError(f"{where}: a linear ring needs at least 4 positions")
    try:
        ring = tuple((float(p[0]), float(p[1])) for p in raw)
    except (TypeError, ValueError, IndexError):
        raise BoundaryError(f"{where}: positions must be [lon, lat] numbers") from None
    return ring


def _polygon(raw: Any, where: str) -> Polygon:
    if not isinstance(raw, list) or not raw:
        raise BoundaryError(f"{where}: a polygon is a list of rings")
    return tuple(_ring(r, f"{where} ring {i}") for i, r in enumerate(raw))


def parse_geometry(geometry: Any, where: str) -> tuple[Polygon, ...]:
    """Polygons of a GeoJSON ``Polygon`` or ``MultiPolygon`` geometry."""
    if not isinstance(geometry, dict):
        raise BoundaryError(f"{where}: no geometry")
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        return (_polygon(coords, where),)
    if kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise BoundaryError(f"{where}: a MultiPolygon is a list of polygons")
        return tuple(_polygon(p, f"{where} polygon {i}") for i, p in enumerate(coords))
    raise BoundaryError(f"{where}: geometry type {kind!r} is not Polygon or MultiPolygon")


def parse_boundaries(data: Any, name_property: str = "kelurahan") -> list[Boundary]:
    """Boundaries of a GeoJSON FeatureCollection; each feature names its area in ``properties[name_property]``."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise BoundaryError("not a GeoJSON FeatureCollection")
    out = []
    for i, feature in enumerate(data.get("features") or []):
        props = (feature or {}).get("properties") or {}
        name = props.get(name_property)
        where = f"feature {i}" + (f" ({name})" if name else "")
        if not isinstance(name, str) or not name.strip():
            raise BoundaryError(f"{where}: properties.{name_property} must name the area")
        strings = tuple(sorted((str(k), str(v)) for k, v in props.items() if isinstance(v, (str, int, float))))
        out.append(Boundary(name.strip(), parse_geometry(feature.get("geometry"), where), strings))
    return out


def load_boundaries(path: Path, name_property: str = "kelurahan") -> list[Boundary]:
    """Read and parse a GeoJSON file; errors name the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BoundaryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise BoundaryError(f"{path}: not JSON: {exc}") from None
    try:
        return parse_boundaries(data, name_property)
    except BoundaryError as exc:
        raise BoundaryError(f"{path}: {exc}") from None
