"""The tracker: stable ids across frames, per-label matching, sparse sampling, expiry."""

from __future__ import annotations

from nvr.detection import Detection
from nvr.tracker import Tracker, iou, similarity

S = 1_000_000


def person(x: float, score: float = 0.8, label: str = "person") -> Detection:
    return Detection(label, score, (x, 0.3, x + 0.1, 0.7))


def test_iou_and_similarity():
    assert iou((0, 0, 1, 1), (0, 0, 1, 1)) == 1
    assert iou((0, 0, 0.5, 1), (0.5, 0, 1, 1)) == 0
    assert similarity((0, 0, 0.1, 0.4), (0.12, 0, 0.22, 0.4)) > 0.2  # moved beside itself: still near


def test_ids_are_stable_while_objects_move():
    tr = Tracker(max_age_us=6 * S)
    first = tr.update(0, [person(0.1), person(0.6)])
    ids = [t.id for t in first.started]
    assert len(set(ids)) == 2 and not first.continued
    for step in range(1, 6):
        up = tr.update(step * 2 * S, [person(0.6 + 0.03 * step), person(0.1 + 0.03 * step)])
        assert not up.started and not up.ended
        assert sorted(t.id for t, _ in up.continued) == sorted(ids)
    left = min(tr.tracks.values(), key=lambda t: t.box[0])
    assert left.id == ids[0] and left.hits == 6


def test_labels_never_mix():
    tr = Tracker(max_age_us=6 * S)
    tr.update(0, [person(0.1)])
    up = tr.update(S, [person(0.1, label="car")])
    assert len(up.started) == 1 and up.started[0].label == "car"


def test_best_score_and_box_are_kept():
    tr = Tracker(max_age_us=6 * S)
    tr.update(0, [person(0.1, 0.6)])
    up = tr.update(S, [person(0.12, 0.9)])
    (track, best), = up.continued
    assert best and track.best_score == 0.9 and track.best_box == person(0.12).box
    (track, best), = tr.update(2 * S, [person(0.14, 0.7)]).continued
    assert not best and track.best_score == 0.9 and track.score == 0.7


def test_unseen_tracks_end_after_max_age():
    tr = Tracker(max_age_us=6 * S)
    tid = tr.update(0, [person(0.1)]).started[0].id
    assert not tr.update(5 * S, []).ended
    ended = tr.update(7 * S, []).ended
    assert [t.id for t in ended] == [tid] and not tr.tracks
    assert tr.update(8 * S, [person(0.1)]).started[0].id != tid


def test_zones_are_remembered():
    tr = Tracker(max_age_us=6 * S)
    tr.update(0, [person(0.1)], [("a",)])
    (track, _), = tr.update(S, [person(0.1)], [("b",)]).continued
    assert track.zones == ("b",) and track.zones_ever == ["a", "b"]
