"""Point-in-polygon and GeoJSON parsing (holes, multipolygons, bad files), table-driven."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nvr.plugins.kelurahan.geo import (
    Boundary,
    BoundaryError,
    contains,
    in_polygon,
    load_boundaries,
    locate,
    parse_boundaries,
)

SQUARE = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0))
HOLE = ((4.0, 4.0), (6.0, 4.0), (6.0, 6.0), (4.0, 6.0), (4.0, 4.0))
FAR = ((20.0, 20.0), (30.0, 20.0), (30.0, 30.0), (20.0, 30.0), (20.0, 20.0))
CONCAVE = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (5.0, 3.0), (0.0, 10.0), (0.0, 0.0))  # a "V" notch from the top


@pytest.mark.parametrize(("polygon", "point", "inside"), [
    ((SQUARE,), (5, 5), True),
    ((SQUARE,), (0.5, 9.5), True),
    ((SQUARE,), (-1, 5), False),
    ((SQUARE,), (5, 11), False),
    ((SQUARE, HOLE), (5, 5), False),  # in the hole
    ((SQUARE, HOLE), (2, 2), True),   # in the ring around the hole
    ((SQUARE, HOLE), (4.5, 6.5), True),
    ((CONCAVE,), (5, 8), False),      # in the notch
    ((CONCAVE,), (1, 5), True),
    ((CONCAVE,), (9, 5), True),
])
def test_in_polygon(polygon, point, inside) -> None:
    assert in_polygon(point[0], point[1], polygon) is inside


@pytest.mark.parametrize(("point", "want"), [
    ((4.5, 4.5), None),      # the hole of A, outside B
    ((2, 2), "A"),
    ((25, 25), "A"),         # A's second polygon
    ((5.2, 5.2), "B"),       # B fills A's hole
    ((15, 15), None),
])
def test_locate_multipolygon_with_hole(point, want) -> None:
    a = Boundary("A", ((SQUARE, HOLE), (FAR,)))
    b = Boundary("B", ((((5.0, 5.0), (5.5, 5.0), (5.5, 5.5), (5.0, 5.5), (5.0, 5.0)),),))
    found = locate([a, b], *point)
    assert (found.name if found else None) == want
    assert contains(a, 25, 25) and not contains(a, 5, 5)


def feature(name, geometry, **props):
    return {"type": "Feature", "properties": {"kelurahan": name, **props}, "geometry": geometry}


def test_parse_feature_collection(tmp_path: Path) -> None:
    data = {"type": "FeatureCollection", "features": [
        feature("Menteng", {"type": "Polygon", "coordinates": [list(map(list, SQUARE)), list(map(list, HOLE))]},
                kecamatan="Menteng"),
        feature("Gambir", {"type": "MultiPolygon", "coordinates": [[list(map(list, FAR))]]}),
    ]}
    path = tmp_path / "b.geojson"
    path.write_text(json.dumps(data))
    found = load_boundaries(path)
    assert [b.name for b in found] == ["Menteng", "Gambir"]
    assert found[0].prop("kecamatan") == "Menteng" and len(found[0].polygons[0]) == 2
    assert locate(found, 25, 25).name == "Gambir"


@pytest.mark.parametrize(("data", "message"), [
    ({"type": "Feature"}, "not a GeoJSON FeatureCollection"),
    ({"type": "FeatureCollection", "features": [feature("", {"type": "Polygon", "coordinates": []})]},
     "properties.kelurahan must name the area"),
    ({"type": "FeatureCollection", "features": [feature("X", {"type": "Point", "coordinates": [1, 2]})]},
     "feature 0 (X): geometry type 'Point'"),
    ({"type": "FeatureCollection", "features": [feature("X", {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]})]},
     "at least 4 positions"),
    ({"type": "FeatureCollection", "features": [feature("X", {"type": "Polygon", "coordinates": [[["a", 0]] * 4]})]},
     "[lon, lat] numbers"),
])
def test_bad_boundaries_are_named(data, message) -> None:
    with pytest.raises(BoundaryError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        parse_boundaries(data)


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "x.geojson").write_text("{nope")
    with pytest.raises(BoundaryError, match="x.geojson: not JSON"):
        load_boundaries(tmp_path / "x.geojson")
    with pytest.raises(BoundaryError, match="missing.geojson: cannot read"):
        load_boundaries(tmp_path / "missing.geojson")
