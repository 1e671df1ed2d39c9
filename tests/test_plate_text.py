"""Plate text: canonical keys and the fuzzy distance in which OCR confusions are cheap (table-driven)."""

from __future__ import annotations

import pytest

from nvr.plate_text import canonical, matches, plate_distance


@pytest.mark.parametrize(("a", "b", "distance"), [
    ("B1234XYZ", "B1234XYZ", 0.0),
    # the five confusions cost 0.25 each, in either direction
    ("B1234XYZ", "81234XYZ", 0.25),
    ("B1234XYZ", "BI234XYZ", 0.25),
    ("B1204XYZ", "B12O4XYZ", 0.25),
    ("B1254XY", "B12S4XY", 0.25),
    ("B1234XYZ", "B1234XY2", 0.25),
    ("B1234XYZ", "8I234XY2", 0.75),
    # weaker confusions 0.5
    ("D1234", "01234", 0.5),
    ("B1634", "B1G34", 0.5),
    # anything else is a whole edit
    ("B1234XYZ", "B1235XYZ", 1.0),
    ("B1234XYZ", "B1234XYA", 1.0),
    ("B1234XYZ", "B1234XY", 1.0),
    ("B1234XYZ", "B12345XYZ", 1.0),
    ("B1234XYZ", "B1243XYZ", 2.0),
    ("B1234XYZ", "D1234XYZ", 1.0),
    ("B1234XYZ", "AB1234XYZ", 1.0),
    ("", "B1", 2.0),
])
def test_distance_table(a: str, b: str, distance: float) -> None:
    assert plate_distance(a, b) == pytest.approx(distance)
    assert plate_distance(b, a) == pytest.approx(distance)


@pytest.mark.parametrize(("a", "b", "budget", "match"), [
    ("B 1234 XYZ", "b1234xyz", 0.0, True),
    ("B 1234 XYZ", "8 1234 XYZ", 0.0, False),
    ("B 1234 XYZ", "8 1234 XYZ", 0.5, True),
    ("B 1234 XYZ", "8 I234 XY2", 0.5, False),   # three confusions exceed half an edit
    ("B 1234 XYZ", "8 I234 XY2", 1.0, True),
    # near misses that must NOT match at the watchlist's default budget (0.5)
    ("B 1234 XYZ", "B 1234 XYA", 0.5, False),   # another letter
    ("B 1234 XYZ", "B 1235 XYZ", 0.5, False),   # another digit
    ("B 1234 XYZ", "B 1234 XY", 0.5, False),    # a letter fewer
    ("B 1234 XYZ", "B 234 XYZ", 0.5, False),    # a digit fewer
    ("B 1234 XYZ", "D 1234 XYZ", 0.5, False),   # another region
    ("B 1234 XYZ", "B 4321 XYZ", 0.5, False),
    ("B 1234 XYZ", "B 1234 XZY", 0.5, False),   # swapped letters
    # ...while the same near misses are found by a search with a budget of 1
    ("B 1234 XYZ", "B 1234 XYA", 1.0, True),
    ("B 1234 XYZ", "B 1234 XY", 1.0, True),
    ("B 1234 XYZ", "B 1234 XZY", 1.0, False),
])
def test_match_table(a: str, b: str, budget: float, match: bool) -> None:
    assert matches(a, b, budget) is match


def test_canonical_keeps_letters_and_digits_only() -> None:
    assert canonical(" b 1234-xyz ") == "B1234XYZ"
    assert canonical("ÄB 12") == "B12"
    assert canonical("") == ""
