"""Emergency rules, table-driven on a fake timeline: N objects (in a zone) for T seconds."""

from __future__ import annotations

import pytest

from nvr.config import RuleConfig
from nvr.detection import Detection
from nvr.rules import RuleEngine
from nvr.tracker import Track, Tracker

S = 1_000_000
CROWD = RuleConfig(name="tawuran", type="crowd", labels=["person"], min_count=3, seconds=6, zone="square",
                   severity="critical", agency="satpol-pp")
FIRE = RuleConfig(name="kebakaran", type="label", labels=["fire", "smoke"], seconds=0, min_score=0.6,
                  severity="critical", agency="damkar")


def tracks(n: int, label: str = "person", zone: str | None = "square", score: float = 0.8) -> list[Track]:
    tr = Tracker(max_age_us=10 * S)
    dets = [Detection(label, score, (0.1 * i, 0.2, 0.1 * i + 0.05, 0.6)) for i in range(n)]
    return tr.update(0, dets, [((zone,) if zone else ())] * n).started


def run(rule: RuleConfig, timeline: list[tuple[int, list[Track]]], grace_s: float = 5) -> list[tuple[str, int]]:
    """Feed (second, tracks seen) frames; return (action, second) of every change, then expire at the end."""
    engine = RuleEngine([rule], grace_us=int(grace_s * S))
    out = []
    for second, seen in timeline:
        out += [(c.action, c.time_us // S) for c in engine.evaluate(second * S, seen)]
    end = (timeline[-1][0] + 60) * S
    out += [(c.action, c.time_us // S) for c in engine.expire(end)]
    return out


@pytest.mark.parametrize(("name", "timeline", "expected"), [
    ("3 people for 6 s fires at 6 s and ends after they leave",
     [(0, tracks(3)), (2, tracks(3)), (4, tracks(4)), (6, tracks(3)), (8, tracks(3)), (10, [])],
     [("start", 6), ("update", 8), ("end", 8)]),
    ("2 people never fire", [(t, tracks(2)) for t in range(0, 20, 2)], []),
    ("3 people for only 4 s never fire", [(0, tracks(3)), (2, tracks(3)), (4, tracks(3)), (6, tracks(1))], []),
    ("3 people outside the zone never fire", [(t, tracks(3, zone="road")) for t in range(0, 20, 2)], []),
    ("3 cars are not people", [(t, tracks(3, label="car")) for t in range(0, 20, 2)], []),
    ("one missed frame within the grace keeps counting",
     [(0, tracks(3)), (2, tracks(3)), (4, []), (6, tracks(3))], [("start", 6), ("end", 6)]),
    ("a gap longer than the grace restarts the clock",
     [(0, tracks(3)), (2, tracks(3)), (8, tracks(3)), (10, tracks(3)), (14, tracks(3))], [("start", 14), ("end", 14)]),
])
def test_crowd_rule(name, timeline, expected):
    assert run(CROWD, timeline) == expected, name


def test_label_rule_fires_at_once_and_carries_severity_and_agency():
    engine = RuleEngine([FIRE], grace_us=5 * S)
    (change,) = engine.evaluate(3 * S, tracks(1, label="smoke", zone=None, score=0.7))
    assert (change.action, change.label, change.rule.severity, change.rule.agency) == ("start", "smoke", "critical",
                                                                                        "damkar")
    assert engine.evaluate(4 * S, tracks(1, label="fire", zone=None, score=0.5)) == []  # below min_score
    (end,) = engine.expire(20 * S)
    assert end.action == "end" and end.time_us == 3 * S and end.since_us == 3 * S


def test_close_ends_active_rules():
    engine = RuleEngine([FIRE], grace_us=5 * S)
    engine.evaluate(0, tracks(1, label="fire", zone=None))
    assert [c.action for c in engine.close()] == ["end"]
    assert engine.close() == []
