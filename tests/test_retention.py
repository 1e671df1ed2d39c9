"""The pure retention planner: table-driven cases with fake times and no files."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from nvr.models import Hold
from nvr.retention import DAY_US, CameraRule, Candidate, Disk, plan_deletions

S = 1_000_000
MIN = 60 * S
NOW = 1_700_000_000 * S
CUT1 = NOW - DAY_US  # the age cutoff with retain_days = 1
CUT3 = NOW - 3 * DAY_US  # the event cutoff with event_retain_days = 3


def seg(sid: int, start: int, end: int | None = None, *, cam: str = "a", size: int = 100) -> Candidate:
    """A candidate starting at ``start`` (absolute µs), one minute long unless ``end`` is given."""
    return Candidate(sid, cam, start, start + MIN if end is None else end, size)


def hold(start: int, end: int, *, cam: str | None = "a", hid: int = 1, expires: int | None = None,
         released: int | None = None) -> Hold:
    return Hold(hid, None if cam is None else 1, cam, start, end, "evidence", "test", NOW - DAY_US, expires, released)


def rule(retain: float = 1, event: float = 3, cap: int | None = None, total: int = 0) -> CameraRule:
    return CameraRule(retain, event, cap, total)


@dataclass
class Case:
    segments: list[Candidate]
    expect: dict[int, str]  # id -> reason; everything else is kept
    rules: dict[str, CameraRule] = field(default_factory=lambda: {"a": rule(), "b": rule()})
    holds: list[Hold] = field(default_factory=list)
    events: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    disk: Disk | None = None
    held: set[int] = field(default_factory=set)
    floor_unreachable: bool = False
    shortfall: int = 0
    cap_unreachable: tuple[str, ...] = ()


CASES = {
    # -- age -------------------------------------------------------------------------
    "nothing old": Case([seg(1, NOW - 10 * MIN)], {}),
    "older than retain_days goes": Case([seg(1, CUT1 - 10 * MIN), seg(2, CUT1 + MIN)], {1: "age"}),
    "ending exactly at the cutoff goes": Case([seg(1, CUT1 - MIN, CUT1)], {1: "age"}),
    "ending 1 µs after the cutoff stays": Case([seg(1, CUT1 - MIN + 1, CUT1 + 1)], {}),
    "straddling the cutoff stays": Case([seg(1, CUT1 - 30 * S, CUT1 + 30 * S)], {}),
    "fractional retain_days": Case(
        [seg(1, NOW - 13 * 3600 * S - MIN), seg(2, NOW - 11 * 3600 * S)], {1: "age"},
        rules={"a": rule(retain=0.5, event=0.5)},
    ),
    "overlapping runs: later start, earlier end": Case(
        [seg(1, CUT1 - 50 * MIN, CUT1 + 5 * MIN), seg(2, CUT1 - 40 * MIN, CUT1 - 30 * MIN)], {2: "age"},
    ),
    "duplicate candidates count once": Case(
        [seg(1, CUT1 - 10 * MIN), seg(1, CUT1 - 10 * MIN)], {1: "age"},
    ),
    "camera without a rule is left alone": Case([seg(1, CUT1 - 10 * MIN, cam="zz")], {}),
    "each camera its own retain_days": Case(
        [seg(1, NOW - 2 * DAY_US), seg(2, NOW - 2 * DAY_US, cam="b")], {1: "age"},
        rules={"a": rule(retain=1), "b": rule(retain=7, event=7)},
    ),
    # -- events ----------------------------------------------------------------------
    "event keeps footage past retain_days": Case(
        [seg(1, CUT1 - 10 * MIN), seg(2, CUT1 - 5 * MIN)], {2: "age"},
        events={"a": [(CUT1 - 10 * MIN + 5 * S, CUT1 - 10 * MIN + 20 * S)]},
    ),
    "event keeps it only until event_retain_days": Case(
        [seg(1, CUT3 - 10 * MIN)], {1: "age"}, events={"a": [(CUT3 - 10 * MIN, CUT3 - 9 * MIN)]},
    ),
    "event footage ending exactly at the event cutoff goes": Case(
        [seg(1, CUT3 - MIN, CUT3)], {1: "age"}, events={"a": [(CUT3 - MIN, CUT3)]},
    ),
    "event footage ending 1 µs after the event cutoff stays": Case(
        [seg(1, CUT3 - MIN + 1, CUT3 + 1)], {}, events={"a": [(CUT3 - MIN + 1, CUT3 - MIN + 2)]},
    ),
    "event ending exactly where the segment starts keeps it": Case(
        [seg(1, CUT1 - 10 * MIN)], {}, events={"a": [(CUT1 - 11 * MIN, CUT1 - 10 * MIN)]},
    ),
    "event starting exactly where the segment ends does not": Case(
        [seg(1, CUT1 - 10 * MIN)], {1: "age"}, events={"a": [(CUT1 - 9 * MIN, CUT1 - 8 * MIN)]},
    ),
    "instantaneous event keeps its segment": Case(
        [seg(1, CUT1 - 10 * MIN)], {}, events={"a": [(CUT1 - 10 * MIN + S, CUT1 - 10 * MIN + S)]},
    ),
    "long event keeps every segment it spans": Case(
        [seg(i, CUT1 - (10 - i) * MIN) for i in range(5)], {},
        events={"a": [(CUT1 - 10 * MIN, CUT1 - 5 * MIN - 1)]},
    ),
    "another camera's event does not protect": Case(
        [seg(1, CUT1 - 10 * MIN)], {1: "age"}, events={"b": [(CUT1 - 10 * MIN, CUT1 - 9 * MIN)]},
    ),
    "event_retain_days shorter than retain_days: retain_days wins": Case(
        [seg(1, NOW - 2 * DAY_US), seg(2, NOW - 4 * DAY_US)], {2: "age"},
        rules={"a": rule(retain=3, event=1)},
        events={"a": [(NOW - 2 * DAY_US, NOW - 2 * DAY_US + S)]},
    ),
    # -- holds -----------------------------------------------------------------------
    "hold overlapping keeps it": Case(
        [seg(1, CUT1 - 10 * MIN), seg(2, CUT1 - 5 * MIN)], {2: "age"},
        holds=[hold(CUT1 - 10 * MIN + 59 * S, CUT1 - 9 * MIN + S)], held={1},
    ),
    "hold touching the segment's end does not": Case(
        [seg(1, CUT1 - 10 * MIN)], {1: "age"}, holds=[hold(CUT1 - 9 * MIN, CUT1 - 8 * MIN)],
    ),
    "hold touching the segment's start does not": Case(
        [seg(1, CUT1 - 10 * MIN)], {1: "age"}, holds=[hold(CUT1 - 11 * MIN, CUT1 - 10 * MIN)],
    ),
    "hold overlapping by 1 µs keeps it": Case(
        [seg(1, CUT1 - 10 * MIN)], {}, holds=[hold(CUT1 - 11 * MIN, CUT1 - 10 * MIN + 1)], held={1},
    ),
    "expired hold does not protect": Case(
        [seg(1, CUT1 - 10 * MIN)], {1: "age"}, holds=[hold(CUT1 - 11 * MIN, CUT1, expires=NOW)],
    ),
    "hold expiring 1 µs from now protects": Case(
        [seg(1, CUT1 - 10 * MIN)], {}, holds=[hold(CUT1 - 11 * MIN, CUT1, expires=NOW + 1)], held={1},
    ),
    "released hold does not protect": Case(
        [seg(1, CUT1 - 10 * MIN)], {1: "age"}, holds=[hold(CUT1 - 11 * MIN, CUT1, released=NOW - S)],
    ),
    "hold on all cameras protects each": Case(
        [seg(1, CUT1 - 10 * MIN), seg(2, CUT1 - 10 * MIN, cam="b")], {},
        holds=[hold(CUT1 - 11 * MIN, CUT1, cam=None)], held={1, 2},
    ),
    "hold on one camera leaves the others": Case(
        [seg(1, CUT1 - 10 * MIN), seg(2, CUT1 - 10 * MIN, cam="b")], {2: "age"},
        holds=[hold(CUT1 - 11 * MIN, CUT1, cam="a")], held={1},
    ),
    "hold beats event expiry too": Case(
        [seg(1, CUT3 - 10 * MIN)], {}, holds=[hold(CUT3 - 10 * MIN, CUT3 - 9 * MIN)], held={1},
    ),
    # -- size caps -------------------------------------------------------------------
    "cap deletes the oldest until under it": Case(
        [seg(i, NOW - (10 - i) * MIN) for i in range(5)], {0: "cap", 1: "cap"},
        rules={"a": rule(cap=300, total=500)},
    ),
    "exactly at the cap deletes nothing": Case(
        [seg(i, NOW - (10 - i) * MIN) for i in range(5)], {}, rules={"a": rule(cap=500, total=500)},
    ),
    "one byte over the cap deletes one segment": Case(
        [seg(i, NOW - (10 - i) * MIN) for i in range(5)], {0: "cap"}, rules={"a": rule(cap=499, total=500)},
    ),
    "age deletions count towards the cap": Case(
        [seg(0, CUT1 - 10 * MIN), seg(1, NOW - 9 * MIN), seg(2, NOW - 8 * MIN)], {0: "age"},
        rules={"a": rule(cap=200, total=300)},
    ),
    "cap ignores events": Case(
        [seg(0, NOW - 10 * MIN), seg(1, NOW - 9 * MIN)], {0: "cap"},
        rules={"a": rule(cap=100, total=200)}, events={"a": [(NOW - 10 * MIN, NOW)]},
    ),
    "cap skips held footage and takes the next oldest": Case(
        [seg(i, NOW - (10 - i) * MIN) for i in range(4)], {1: "cap"},
        rules={"a": rule(cap=300, total=400)}, holds=[hold(NOW - 10 * MIN, NOW - 9 * MIN)], held={0},
    ),
    "cap unreachable when the rest is held": Case(
        [seg(i, NOW - (10 - i) * MIN) for i in range(3)], {2: "cap"},
        rules={"a": rule(cap=100, total=300)}, holds=[hold(NOW - 10 * MIN, NOW - 8 * MIN)],
        held={0, 1}, cap_unreachable=("a",),
    ),
    "cap is per camera": Case(
        [seg(1, NOW - 10 * MIN), seg(2, NOW - 20 * MIN, cam="b")], {1: "cap"},
        rules={"a": rule(cap=50, total=100), "b": rule(cap=None, total=100)},
    ),
    # -- free-space floor ------------------------------------------------------------
    "floor deletes oldest across cameras": Case(
        [seg(1, NOW - 30 * MIN), seg(2, NOW - 20 * MIN, cam="b"), seg(3, NOW - 10 * MIN)],
        {1: "floor", 2: "floor"}, disk=Disk(10_000, 850, 1_000),
    ),
    "free exactly at the floor: nothing": Case(
        [seg(1, NOW - 30 * MIN)], {}, disk=Disk(10_000, 1_000, 1_000),
    ),
    "one byte under the floor: the oldest goes": Case(
        [seg(1, NOW - 30 * MIN), seg(2, NOW - 20 * MIN)], {1: "floor"}, disk=Disk(10_000, 999, 1_000),
    ),
    "age deletions count towards the floor": Case(
        [seg(1, CUT1 - 10 * MIN), seg(2, NOW - 20 * MIN)], {1: "age"}, disk=Disk(10_000, 950, 1_000),
    ),
    "floor ignores events and cameras without rules": Case(
        [seg(1, NOW - 30 * MIN, cam="zz"), seg(2, NOW - 20 * MIN)], {1: "floor"},
        events={"zz": [(NOW - 30 * MIN, NOW)]}, disk=Disk(10_000, 950, 1_000),
    ),
    "floor skips held footage": Case(
        [seg(1, NOW - 30 * MIN), seg(2, NOW - 20 * MIN, cam="b"), seg(3, NOW - 10 * MIN)],
        {2: "floor", 3: "floor"}, holds=[hold(NOW - 30 * MIN, NOW - 29 * MIN)],
        disk=Disk(10_000, 850, 1_000), held={1},
    ),
    "floor unreachable because of holds": Case(
        [seg(1, NOW - 30 * MIN), seg(2, NOW - 20 * MIN), seg(3, NOW - 10 * MIN, cam="b")], {3: "floor"},
        holds=[hold(NOW - 31 * MIN, NOW - 15 * MIN)], disk=Disk(10_000, 700, 1_000),
        held={1, 2}, floor_unreachable=True, shortfall=200,
    ),
    "floor unreachable with too little footage": Case(
        [seg(1, NOW - 30 * MIN)], {1: "floor"}, disk=Disk(10_000, 0, 1_000),
        floor_unreachable=True, shortfall=900,
    ),
    "cap and floor together": Case(
        [seg(i, NOW - (10 - i) * MIN) for i in range(4)], {0: "cap", 1: "floor"},
        rules={"a": rule(cap=300, total=400)}, disk=Disk(10_000, 800, 1_000),
    ),
    "no disk information: no floor": Case([seg(1, NOW - 30 * MIN)], {}, disk=None),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_plan(case: Case) -> None:
    plan = plan_deletions(case.segments, case.rules, case.holds, case.events, NOW, case.disk)
    assert {d.id: d.reason for d in plan.deletions} == case.expect
    assert set(plan.held) == case.held
    assert plan.floor_unreachable is case.floor_unreachable
    assert plan.floor_shortfall_bytes == case.shortfall
    assert plan.cap_unreachable == case.cap_unreachable
    assert len(plan.ids) == len(set(plan.ids))
    assert plan.freed_bytes == sum(d.size for d in plan.deletions)
    assert sum(plan.reasons.values()) == len(plan.deletions)
    if case.disk is not None:
        assert plan.floor_needed is (case.disk.free_bytes < case.disk.floor_bytes)


def test_held_segments_are_never_planned_whatever_the_pressure() -> None:
    segments = [seg(i, CUT3 - (100 - i) * MIN, cam="ab"[i % 2]) for i in range(100)]
    holds = [hold(CUT3 - 80 * MIN, CUT3 - 60 * MIN, cam=None), hold(CUT3 - 30 * MIN, CUT3, cam="b", hid=2)]
    plan = plan_deletions(segments, {"a": rule(cap=0, total=10**9), "b": rule(cap=0, total=10**9)}, holds, {},
                          NOW, Disk(10**9, 0, 10**9))
    for d in plan.deletions:
        s = segments[d.id]
        assert not any(h.covers(s.camera, s.start, s.end) for h in holds)
    held = {s.id for s in segments if any(h.covers(s.camera, s.start, s.end) for h in holds)}
    assert set(plan.held) == held and len(plan.deletions) == 100 - len(held)
    assert plan.floor_unreachable and plan.floor_held_bytes == 100 * len(held)


def test_floor_deletes_in_oldest_first_order_across_cameras() -> None:
    segments = [seg(i, NOW - (50 - i) * MIN, cam="ab"[i % 3 == 0]) for i in range(50)]
    plan = plan_deletions(segments, {}, [], {}, NOW, Disk(10**6, 0, 1_000))
    assert plan.ids == list(range(10))
    assert plan.reasons == {"age": 0, "cap": 0, "floor": 10}


def test_reason_is_the_first_rule_that_picks_a_segment() -> None:
    segments = [seg(1, CUT1 - 10 * MIN), seg(2, NOW - 20 * MIN), seg(3, NOW - 10 * MIN)]
    plan = plan_deletions(segments, {"a": rule(cap=150, total=300)}, [], {}, NOW, Disk(10_000, 700, 1_000))
    assert [(d.id, d.reason) for d in plan.deletions] == [(1, "age"), (2, "cap"), (3, "floor")]


def test_plan_is_pure_and_repeatable() -> None:
    segments = [seg(i, CUT1 - (10 - i) * MIN) for i in range(10)]
    args = (segments, {"a": rule()}, [hold(CUT1 - 8 * MIN, CUT1 - 6 * MIN)], {"a": [(CUT1 - 3 * MIN, CUT1)]},
            NOW, Disk(1000, 10, 100))
    assert plan_deletions(*args) == plan_deletions(*args)
    assert [s.id for s in segments] == list(range(10))  # inputs untouched


@pytest.mark.serial
def test_hundred_thousand_candidates_plan_quickly() -> None:
    import time

    cams = [f"cam-{i}" for i in range(1000)]
    segments = [Candidate(k * 1000 + i, cams[i], CUT1 - (200 - k) * MIN, CUT1 - (199 - k) * MIN, 10**6)
                for k in range(100) for i in range(1000)]
    rules = {c: rule() for c in cams}
    holds = [hold(CUT1 - 150 * MIN, CUT1 - 140 * MIN, cam=c, hid=i) for i, c in enumerate(cams[:100])]
    started = time.perf_counter()
    plan = plan_deletions(segments, rules, holds, {}, NOW, None)
    elapsed = time.perf_counter() - started
    assert len(plan.deletions) == 100_000 - 100 * 10
    assert elapsed < 2.0, f"planning 100k candidates took {elapsed:.2f} s"
