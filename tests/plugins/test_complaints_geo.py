"""Table-driven tests of the complaint plugin's pure parts: distance, bearing, field of view, ranking, SLA, workflow."""

from __future__ import annotations

import math

import pytest

from nvr.plugins.complaints.geo import EARTH_RADIUS_M, CameraSpot, bearing_deg, facing, haversine_m, nearby_cameras
from nvr.plugins.complaints.sla import DAY_US, sla_of, sla_window
from nvr.plugins.complaints.svgmap import SIZE, MapCamera, project, svg_map
from nvr.plugins.complaints.workflow import allowed_from, check_transition

MONAS = (-6.1754, 106.8272)
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180  # along a meridian or the equator


def north(point: tuple[float, float], metres: float) -> tuple[float, float]:
    return point[0] + metres / M_PER_DEG, point[1]


def east(point: tuple[float, float], metres: float) -> tuple[float, float]:
    return point[0], point[1] + metres / (M_PER_DEG * math.cos(math.radians(point[0])))


@pytest.mark.parametrize(("a", "b", "metres"), [
    ((0.0, 0.0), (0.0, 0.0), 0.0),
    ((0.0, 0.0), (0.0, 1.0), M_PER_DEG),
    ((0.0, 0.0), (1.0, 0.0), M_PER_DEG),
    ((0.0, 179.5), (0.0, -179.5), M_PER_DEG),  # across the antimeridian
    ((90.0, 0.0), (-90.0, 0.0), math.pi * EARTH_RADIUS_M),
    (MONAS, north(MONAS, 300), 300.0),
    (MONAS, north(MONAS, -250), 250.0),
    (MONAS, east(MONAS, 120), 120.0),
])
def test_haversine(a, b, metres) -> None:
    assert haversine_m(*a, *b) == pytest.approx(metres, abs=1e-3)
    assert haversine_m(*b, *a) == pytest.approx(metres, abs=1e-3)


@pytest.mark.parametrize(("b", "degrees"), [
    ((1.0, 0.0), 0.0), ((0.0, 1.0), 90.0), ((-1.0, 0.0), 180.0), ((0.0, -1.0), 270.0), ((1.0, 1.0), 44.9956),
])
def test_bearing_from_the_origin(b, degrees) -> None:
    assert bearing_deg(0.0, 0.0, *b) == pytest.approx(degrees, abs=1e-3)


@pytest.mark.parametrize(("direction", "fov", "bearing", "distance", "expected"), [
    (None, None, 10.0, 50.0, None),      # direction unknown
    (None, 60.0, 10.0, 50.0, None),
    (0.0, 90.0, 45.0, 50.0, True),       # the edge of the view counts
    (0.0, 90.0, 46.0, 50.0, False),
    (0.0, 90.0, 315.0, 50.0, True),      # wraps through north
    (350.0, 40.0, 5.0, 50.0, True),
    (350.0, 40.0, 331.0, 50.0, True),
    (350.0, 40.0, 329.0, 50.0, False),
    (90.0, None, 130.0, 50.0, True),     # no fov: 90 degrees assumed
    (90.0, None, 140.0, 50.0, False),
    (0.0, 360.0, 180.0, 50.0, True),     # a 360-degree camera sees everything
    (180.0, 10.0, 0.0, 0.5, True),       # a point under the camera is seen whatever the direction
])
def test_facing(direction, fov, bearing, distance, expected) -> None:
    assert facing(direction, fov, bearing, distance) is expected


def test_nearby_cameras_inside_the_radius_facing_first_then_by_distance() -> None:
    spots = [
        CameraSpot("a-north-looking-south", *north(MONAS, 100), direction=180.0, fov=60.0),
        CameraSpot("b-east-no-direction", *east(MONAS, 50)),
        CameraSpot("c-west-looking-away", *east(MONAS, -30), direction=270.0, fov=90.0),
        CameraSpot("d-south-looking-north", *north(MONAS, -200), direction=0.0),
        CameraSpot("e-just-outside", *north(MONAS, 300.2)),
        CameraSpot("f-just-inside", *north(MONAS, 299.8)),
        CameraSpot("g-far", *east(MONAS, 5000)),
    ]
    found = nearby_cameras(*MONAS, spots, 300.0)
    assert [n.name for n in found] == ["a-north-looking-south", "d-south-looking-north", "b-east-no-direction",
                                       "f-just-inside", "c-west-looking-away"]
    assert [n.facing for n in found] == [True, True, None, None, False]
    assert [round(n.distance_m) for n in found] == [100, 200, 50, 300, 30]
    assert [round(n.bearing_deg) for n in found] == [180, 0, 270, 180, 90]


def test_nearby_cameras_without_directions_are_in_distance_order_ties_by_name() -> None:
    spots = [CameraSpot(name, *north(MONAS, d)) for name, d in
             [("z", 10), ("y", -250), ("x", 120), ("w", -120), ("v", 400)]]
    assert [n.name for n in nearby_cameras(*MONAS, spots, 300)] == ["z", "w", "x", "y"]
    assert nearby_cameras(*MONAS, [], 300) == []


@pytest.mark.parametrize(("days", "responded_days", "colour"), [
    (0.0, None, "green"), (3.0, None, "green"), (3.99, None, "green"),
    (4.0, None, "amber"), (5.0, None, "amber"), (6.0, None, "amber"),  # due at day 6: not overdue yet
    (6.0001, None, "red"), (7.0, None, "red"), (30.0, None, "red"),
    (7.0, 5.0, "met"), (7.0, 6.0, "met"), (7.0, 6.5, "late"),
])
def test_sla_colours(days, responded_days, colour) -> None:
    reported = 1_767_225_600_000_000
    responded = None if responded_days is None else reported + round(responded_days * DAY_US)
    sla = sla_of(reported, responded, reported + round(days * DAY_US), 6.0, 4.0)
    assert sla.colour == colour
    assert sla.due_us == reported + 6 * DAY_US and sla.age_days == pytest.approx(days)


@pytest.mark.parametrize("colour", ["green", "amber", "red"])
def test_sla_window_is_the_inverse_of_sla_of(colour) -> None:
    now = 1_767_225_600_000_000
    after, before = sla_window(colour, now, 6.0, 4.0)
    for hours in range(0, 24 * 9, 3):
        reported = now - hours * 3_600_000_000
        inside = (after is None or reported >= after) and (before is None or reported < before)
        assert inside == (sla_of(reported, None, now, 6.0, 4.0).colour == colour), hours
    with pytest.raises(ValueError, match="sla"):
        sla_window("purple", now, 6.0, 4.0)


@pytest.mark.parametrize(("current", "target", "ok"), [
    ("new", "linked", True), ("new", "in_progress", True), ("linked", "in_progress", True),
    ("in_progress", "responded", True), ("responded", "closed", True),
    ("new", "responded", False), ("new", "closed", False), ("linked", "closed", False),
    ("in_progress", "new", False), ("closed", "in_progress", False), ("responded", "responded", False),
    ("new", "done", False),
])
def test_workflow_transitions(current, target, ok) -> None:
    assert (check_transition(current, target) is None) is ok
    if ok:
        assert current in allowed_from(target)


def test_svg_map_projects_north_up_and_escapes_names() -> None:
    x, y = project(*north(MONAS, 100), *MONAS, metres_per_px=1.0)
    assert (round(x), round(y)) == (SIZE // 2, SIZE // 2 - 100)
    x, y = project(*east(MONAS, 50), *MONAS, metres_per_px=1.0)
    assert (round(x), round(y)) == (SIZE // 2 + 50, SIZE // 2)
    svg = svg_map(*MONAS, 300, [MapCamera("<b>cam", *north(MONAS, 100), 180.0, 60.0, True),
                                MapCamera("far", *east(MONAS, 9000))])
    assert svg.startswith("<svg") and "&lt;b&gt;cam" in svg and "<b>" not in svg
    assert 'data-camera="far"' not in svg  # off the map
    assert svg.count("<path") == 1  # the view cone of the camera with a direction
