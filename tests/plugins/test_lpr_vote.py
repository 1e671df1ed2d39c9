"""Voting and grouping: reads of one vehicle across frames -> one sighting; reads of different vehicles apart."""

from __future__ import annotations

import numpy as np
import pytest

from nvr.plugins.lpr.grammar import chars_of, normalise
from nvr.plugins.lpr.group import PlateGrouper
from nvr.plugins.lpr.reader import Observation
from nvr.plugins.lpr.textrec import Char, TextRead
from nvr.plugins.lpr.vote import vote

S = 1_000_000
CROP = np.zeros((4, 8, 3), dtype=np.uint8)


def obs(text: str, t: float, prob: float = 0.9, x: float = 100.0, track: int | None = None,
        weak: dict[int, float] | None = None) -> Observation:
    """A read of ``text`` at time ``t`` s with its plate box at ``x``; ``weak`` lowers chosen characters."""
    chars = list(chars_of(text, prob).chars)
    for index, p in (weak or {}).items():
        c = chars[index]
        chars[index] = Char(c.char, p, ((c.char, p),))
    read = normalise(TextRead(tuple(chars)))
    assert read is not None, text
    return Observation(round(t * S), read, (x, 200.0, x + 60.0, 215.0), (640, 360), CROP, track)


def test_one_read_is_its_own_sighting() -> None:
    s = vote([obs("B 1234 XYZ", 1.0)])
    assert (s.plate.text, s.reads, s.agreement, s.alternatives) == ("B 1234 XYZ", 1, 1.0, ())
    assert s.confidence == pytest.approx(0.9, abs=0.01)


def test_the_majority_wins_character_by_character() -> None:
    # every read has one error, each in a different place: no read is right, the vote is
    reads = [obs("B 1284 XYZ", 1), obs("B 1234 XYE", 2), obs("D 1234 XYZ", 3), obs("B 7234 XYZ", 4)]
    s = vote(reads)
    assert s.plate.text == "B 1234 XYZ"
    assert s.agreement == 0.0 and s.reads == 4
    assert dict(s.alternatives) == {"B 1284 XYZ": 1, "B 1234 XYE": 1, "D 1234 XYZ": 1, "B 7234 XYZ": 1}


def test_votes_are_weighted_by_character_confidence() -> None:
    # two reads say 8 where one says 3, but they were unsure of it
    reads = [obs("B 1284 XY", 1, weak={4: 0.2}), obs("B 1284 XY", 2, weak={4: 0.2}), obs("B 1234 XY", 3, 0.95)]
    assert vote(reads).plate.text == "B 1234 XY"


def test_segment_lengths_are_voted_before_characters() -> None:
    # a frame that lost a digit or a letter does not shift the others
    reads = [obs("B 1234 XYZ", 1), obs("B 234 XYZ", 2), obs("B 1234 XY", 3), obs("B 1234 XYZ", 4)]
    s = vote(reads)
    assert s.plate.text == "B 1234 XYZ"
    assert s.agreement == pytest.approx(0.5)


def test_best_read_is_the_most_confident_one_that_agrees() -> None:
    reads = [obs("B 1234 XYZ", 1, 0.7), obs("B 1284 XYZ", 2, 0.99), obs("B 1234 XYZ", 3, 0.9),
             obs("B 1234 XYZ", 4, 0.8)]
    s = vote(reads)
    assert s.best.time_us == 3 * S
    assert (s.first_us, s.last_us) == (1 * S, 4 * S)


def test_vote_needs_reads() -> None:
    with pytest.raises(ValueError):
        vote([])


def test_grouper_keeps_one_vehicle_together_and_two_apart() -> None:
    g = PlateGrouper(end_after_us=2 * S, max_open_us=60 * S)
    g.add([obs("B 1234 XYZ", 1.0, x=50)])
    g.add([obs("B 1284 XYZ", 1.5, x=120), obs("D 77 AB", 1.5, x=400)])  # a misread nearby joins; far text apart
    g.add([obs("B 1234 XYZ", 2.0, x=400)])  # the same text far away joins too (the car moved)
    assert len(g.groups) == 2
    assert g.expire(3.0 * S) == []  # seen 1 s ago
    closed = sorted(g.expire(4.1 * S), key=lambda s: s.plate.text)
    assert [(s.plate.text, s.reads) for s in closed] == [("B 1234 XYZ", 3), ("D 77 AB", 1)]
    assert g.groups == {}


def test_grouper_by_track_id_and_min_reads() -> None:
    g = PlateGrouper(end_after_us=2 * S, max_open_us=60 * S, min_reads=2)
    g.add([obs("B 1234 XYZ", 1, track=7), obs("F 12 A", 1, track=8)])
    g.add([obs("B 9999 XYZ", 2, track=7)])  # different text, same vehicle track: same group
    assert len(g.groups) == 2
    closed = g.end_track(7)
    assert [(s.reads, s.track_id) for s in closed] == [(2, 7)]
    assert g.flush() == []  # track 8 has one read: below min_reads


def test_grouper_closes_a_parked_car_every_max_open() -> None:
    g = PlateGrouper(end_after_us=2 * S, max_open_us=10 * S)
    for t in range(12):
        g.add([obs("B 1234 XYZ", t, x=100)])
        closed = g.expire(t * S)
        if closed:
            assert t == 10 and closed[0].reads == 11
    assert len(g.groups) == 1


def test_grouper_follows_the_plate_and_not_the_next_car() -> None:
    g = PlateGrouper(end_after_us=2 * S, max_open_us=60 * S)
    g.add([obs("B 8 LU", 1.0, x=100)])
    g.add([obs("B 8 LU", 1.5, x=200)])
    g.add([obs("B 6 LJ", 2.0, x=300)])  # two edits off, but where the plate should be now: the same car
    g.add([obs("B 3 TU", 2.5, x=100)])  # two edits off and back at the start: the next car
    closed = sorted(g.flush(), key=lambda s: s.first_us)
    assert [(s.plate.text, s.reads) for s in closed] == [("B 8 LU", 3), ("B 3 TU", 1)]


def test_a_garbled_read_where_the_moving_plate_should_be_joins_it() -> None:
    """Small plates read badly in one frame: one plate is in one place, so the read stays that car's."""
    g = PlateGrouper(end_after_us=2 * S, max_open_us=60 * S)
    g.add([obs("B 1234 XYZ", 1.0, x=100)])
    g.add([obs("B 1234 XYZ", 1.5, x=200)])
    g.add([obs("DE 10 G", 2.0, x=330)])  # far off in text, under a plate width (60 px) from 300: the same car
    g.add([obs("DE 10 G", 2.5, x=560)])  # the same garble well away from where the plate should be (400): apart
    closed = sorted(g.flush(), key=lambda s: s.first_us)
    assert [(s.plate.text, s.reads) for s in closed] == [("B 1234 XYZ", 3), ("DE 10 G", 1)]
