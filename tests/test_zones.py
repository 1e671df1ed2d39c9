"""Zones: point-in-polygon, raster masks, and per-zone object filters."""

from __future__ import annotations

import numpy as np
import pytest

from nvr.config import ZoneConfig
from nvr.detection import Detection
from nvr.zones import Zone, point_in_polygon, polygon_mask, zones_of

SQUARE = [(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)]
L_SHAPE = [(0, 0), (1, 0), (1, 0.5), (0.5, 0.5), (0.5, 1), (0, 1)]


@pytest.mark.parametrize(("point", "polygon", "inside"), [
    ((0.5, 0.5), SQUARE, True),
    ((0.1, 0.5), SQUARE, False),
    ((0.5, 0.9), SQUARE, False),
    ((0.25 + 1e-9, 0.5), SQUARE, True),
    ((0.25, 0.25), L_SHAPE, True),
    ((0.75, 0.75), L_SHAPE, False),  # the notch of the L
    ((0.75, 0.25), L_SHAPE, True),
])
def test_point_in_polygon(point, polygon, inside):
    assert point_in_polygon(*point, polygon) is inside


def test_polygon_mask_matches_point_test():
    mask = polygon_mask([L_SHAPE], 40, 20)
    for y in range(20):
        for x in range(40):
            assert mask[y, x] == point_in_polygon((x + 0.5) / 40, (y + 0.5) / 20, L_SHAPE)
    assert mask.sum() == 40 * 20 * 3 // 4


def test_polygon_mask_union_and_empty():
    assert not polygon_mask([], 8, 8).any()
    left = [(0, 0), (0.5, 0), (0.5, 1), (0, 1)]
    right = [(0.5, 0), (1, 0), (1, 1), (0.5, 1)]
    assert polygon_mask([left, right], 8, 8).all()


def test_zone_uses_the_foot_point_and_filters():
    zone = Zone.from_config(ZoneConfig(name="road", points=[(0, 0.5), (1, 0.5), (1, 1), (0, 1)],
                                       objects=["person"], min_score=0.6, min_area=0.01))
    standing = Detection("person", 0.9, (0.4, 0.2, 0.5, 0.6))  # head above the zone, feet in it
    assert zone.admits(standing)
    assert not zone.admits(Detection("person", 0.9, (0.4, 0.1, 0.5, 0.4)))  # feet above the zone
    assert not zone.admits(Detection("car", 0.9, (0.4, 0.2, 0.5, 0.6)))  # label filter
    assert not zone.admits(Detection("person", 0.5, (0.4, 0.2, 0.5, 0.6)))  # score filter
    assert not zone.admits(Detection("person", 0.9, (0.4, 0.55, 0.41, 0.6)))  # area 0.0005 < 0.01
    other = Zone.from_config(ZoneConfig(name="all", points=[(0, 0), (1, 0), (1, 1), (0, 1)]))
    assert zones_of(standing, [zone, other]) == ("road", "all")


def test_detection_area_and_foot():
    d = Detection("x", 1.0, (0.2, 0.2, 0.6, 0.7))
    assert d.area == pytest.approx(0.2)
    assert d.foot == pytest.approx((0.4, 0.7))
    assert np.isclose(Detection("x", 1.0, (0.5, 0.5, 0.4, 0.4)).area, 0)
