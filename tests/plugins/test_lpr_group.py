"""Grouping reads into vehicles when part of a plate is hidden: a passer-by in front of the plate, real reads."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nvr.plugins.lpr.grammar import chars_of, normalise
from nvr.plugins.lpr.group import PlateGrouper, is_garbled
from nvr.plugins.lpr.ocr_models import load_models
from nvr.plugins.lpr.reader import Observation, PlateReader
from nvr.plugins.lpr.vote import is_hidden, vote
from nvr.sim.scene import SceneRenderer

S = 1_000_000
CROP = np.zeros((4, 8, 3), dtype=np.uint8)
END_AFTER_US = 1_250_000
"""As the service sets it for the end-to-end test's camera: max(end_after_s = 1, 2.5 / detect fps 2)."""


def obs(text: str, t: float, x: float, width: float = 120.0, prob: float = 0.95) -> Observation:
    """A read of ``text`` at ``t`` s whose box starts at ``x`` and is ``width`` px wide (a 640x360 frame)."""
    read = normalise(chars_of(text, prob))
    assert read is not None, text
    return Observation(round(t * S), read, (x, 274.0, x + width, 292.0), (640, 360), CROP)


def plates(sightings) -> list[tuple[str, int]]:
    return [(s.plate.text, s.reads) for s in sorted(sightings, key=lambda s: s.first_us)]


@pytest.mark.parametrize(("part", "whole", "hidden"), [
    ("B1234", "B1234XYZ", True),      # the suffix behind a walker
    ("B1234XY", "B1234XYZ", True),
    ("B12YZ", "B1234XYZ", True),      # the middle behind a walker
    ("B34XYZ", "B1234XYZ", True),
    ("B1234XYZ", "B1234XYZ", False),  # the same plate
    ("B1234XYZ", "B1234", False),     # longer
    ("B17", "B1234XYZ", False),       # a 7 that is not on the plate
    ("D1234", "B1234XYZ", False),
    ("B4321", "B1234XYZ", False),     # out of order
])
def test_hidden_means_the_same_characters_in_order_fewer(part: str, whole: str, hidden: bool) -> None:
    assert is_hidden(part, whole) is hidden


def test_a_read_with_the_suffix_hidden_joins_the_plate_near_it() -> None:
    """The group has one read (no motion known): ``B 1234`` is three edits away, but it is where the plate is."""
    g = PlateGrouper(end_after_us=END_AFTER_US, max_open_us=60 * S)
    g.add([obs("B 1234 XYZ", 0.8, x=39, width=113)])
    g.add([obs("B 1234", 1.2, x=119, width=70)])  # measured: XYZ behind the walker, half a plate width on
    g.add([obs("B 1234 XYZ", 1.8, x=207, width=113)])
    assert plates(g.flush()) == [("B 1234 XYZ", 3)]


def test_a_hidden_read_that_comes_first_takes_the_whole_plate_that_follows() -> None:
    g = PlateGrouper(end_after_us=END_AFTER_US, max_open_us=60 * S)
    g.add([obs("B 1234", 1.2, x=119, width=70)])
    g.add([obs("B 1234 XYZ", 1.6, x=182, width=140)])
    assert len(g.groups) == 1 and next(iter(g.groups.values())).leading_key() == "B1234XYZ"
    g.add([obs("B 1234 XYZ", 2.2, x=243, width=114)])
    assert plates(g.flush()) == [("B 1234 XYZ", 3)]


def test_one_whole_read_outvotes_one_hidden_read() -> None:
    s = vote([obs("B 1234", 1.0, x=100, prob=0.99), obs("B 1234 XYZ", 1.4, x=100, prob=0.9)])
    assert s.plate.text == "B 1234 XYZ" and dict(s.alternatives) == {"B 1234": 1}
    assert 0.5 < s.confidence < 0.9  # the suffix was seen once in two reads


def test_a_stray_letter_in_one_read_does_not_outvote_a_plate_without_one() -> None:
    reads = [obs("B 1234", t, x=100) for t in (1, 2, 3)] + [obs("B 1234 I", 4, x=100)]
    assert vote(reads).plate.text == "B 1234"


def test_a_car_that_really_is_the_shorter_plate_is_still_its_own_sighting() -> None:
    g = PlateGrouper(end_after_us=END_AFTER_US, max_open_us=60 * S)
    g.add([obs("B 1234 XYZ", 1.0, x=20)])
    g.add([obs("B 1234 XYZ", 1.5, x=80)])   # moving right, 60 px a read
    g.add([obs("B 1234", 2.0, x=500)])      # elsewhere: far from where the plate is (140) or was (80)
    g.add([obs("B 1234 XYZ", 2.0 + 0.5, x=200)])
    closed = g.expire(2.5 * S + END_AFTER_US + 1)
    assert plates(closed) == [("B 1234 XYZ", 3), ("B 1234", 1)]
    g.add([obs("B 1234", 5.0, x=200)])      # later, where the first car was: that car has gone
    assert plates(g.flush()) == [("B 1234", 1)]


def test_a_car_that_really_is_the_shorter_plate_alongside_in_one_frame_stays_apart() -> None:
    g = PlateGrouper(end_after_us=END_AFTER_US, max_open_us=60 * S)
    g.add([obs("B 1234 XYZ", 1.0, x=100), obs("B 1234", 1.0, x=300)])
    g.add([obs("B 1234 XYZ", 1.5, x=110), obs("B 1234", 1.5, x=310)])
    assert plates(g.flush()) == [("B 1234 XYZ", 2), ("B 1234", 2)]


# -- real reads of the simulator's street scene ------------------------------------------------------------------

@pytest.fixture(scope="module")
def street() -> dict[int, list[Observation]]:
    """Reads of the street scene's first frames as the end-to-end test's camera serves them: 5 fps, an 8 s loop,
    the 640x360 sub stream. In frame 6 the walker in front of the plate car hides ``XYZ``."""
    reader = PlateReader(load_models(threads=1))
    scene = SceneRenderer(fps=5, duration=8.0)
    out = {}
    for index in (1, 3, 4, 6, 8, 9, 11, 13, 14):
        rgb = np.asarray(scene.render(index).resize((640, 360), Image.Resampling.BOX))
        out[index] = reader.read(rgb, index * 200_000)
    return out


def test_the_walker_hides_the_suffix_in_one_frame(street: dict[int, list[Observation]]) -> None:
    """What the end-to-end test saw once: the frame that reads ``B 1234``, inside the plate, short of its end."""
    assert [o.read.plate.text for o in street[6]] == ["B 1234"]
    scene = SceneRenderer(fps=5, duration=8.0)
    plate = next(o.box for o in scene.objects(6) if o.kind == "plate")
    x0, _, x1, _ = street[6][0].box
    assert plate[0] / 2 <= x0 and x1 < plate[2] / 2 - 40  # the whole line would end 6 px inside the plate
    for index in (4, 8, 9, 11, 13, 14):
        assert [o.read.plate.text for o in street[index]] == ["B 1234 XYZ"], index


@pytest.mark.parametrize("frames", [(1, 4, 6, 9, 11, 14), (1, 3, 6, 8, 11, 13)],
                         ids=["after-one-whole-read", "hidden-read-first"])
def test_the_street_scene_yields_one_sighting_whatever_frames_are_analysed(
        street: dict[int, list[Observation]], frames: tuple[int, ...]) -> None:
    """Two frames a second of five: which ones depends on when the stream started; these are the two patterns
    that take frame 6 (the others miss it)."""
    g = PlateGrouper(end_after_us=END_AFTER_US, max_open_us=60 * S)
    closed = []
    for index in frames:
        closed += g.expire(index * 200_000)
        g.add(street[index])
    closed += g.flush()
    assert [s.plate.text for s in closed] == ["B 1234 XYZ"]


# -- a garbled read of a plate another group reads well, there and then ------------------------------------------

@pytest.mark.parametrize(("part", "whole", "garbled"), [
    ("B17", "B1234XYZ", True),       # measured: B 1 seen, a walker's leg read as 7
    ("B127", "B1234XYZ", True),      # measured, the frame before
    ("Z34XYZ", "B1234XYZ", True),    # measured: the region invented
    ("B1234", "B1234XYZ", True),     # hidden, nothing invented
    ("B1234XYZI", "B1234XYZ", True),  # a stray letter after the whole plate
    ("D5678AB", "B1234XYZ", False),  # another plate
    ("B4321", "B1234XYZ", False),    # out of order, even with one dropped
    ("B1779", "B1234XYZ", False),    # two invented
])
def test_garbled_means_hidden_with_at_most_one_character_invented(part: str, whole: str, garbled: bool) -> None:
    assert is_garbled(part, whole) is garbled


def moving(g: PlateGrouper, text: str, times: tuple[float, ...], x0: float = 20, speed: float = 120) -> None:
    """Reads of ``text`` on a plate moving right ``speed`` px a second from ``x0``."""
    for t in times:
        g.add([obs(text, t, x=x0 + speed * t)])


def test_a_garbled_read_where_the_plate_was_folds_into_its_sighting() -> None:
    """``B 17`` between two whole reads, where the plate was then: one read, six edits, no motion known yet when it
    came (it used to become its own sighting)."""
    g = PlateGrouper(end_after_us=END_AFTER_US, max_open_us=60 * S)
    moving(g, "B 1234 XYZ", (0.8,))
    g.add([obs("B 17", 1.3, x=20 + 120 * 1.3 + 30, width=44)])  # measured: a short box inside the plate
    moving(g, "B 1234 XYZ", (1.8, 2.3))
    closed = g.expire(round(1.3 * S) + END_AFTER_US + 1)  # B 17's group ends; the car's is still open
    assert closed == []
    moving(g, "B 1234 XYZ", (2.8,))
    [s] = g.flush()
    assert (s.plate.text, s.reads, s.agreement) == ("B 1234 XYZ", 5, 1.0)
    assert dict(s.alternatives) == {"B 17": 1}


def test_a_garbled_read_folds_when_both_groups_close_together() -> None:
    g = PlateGrouper(end_after_us=END_AFTER_US, max_open_us=60 * S)
    moving(g, "B 1234 XYZ", (0.8,))
    g.add([obs("B 17", 1.3, x=20 + 120 * 1.3, width=44)])
    moving(g, "B 1234 XYZ", (1.8,))
    assert plates(g.flush()) == [("B 1234 XYZ", 3)]


def test_a_different_plate_passing_alongside_is_still_its_own_sighting() -> None:
    g = PlateGrouper(end_after_us=END_AFTER_US, max_open_us=60 * S)
    moving(g, "B 1234 XYZ", (0.8,))
    g.add([obs("D 5678 AB", 1.3, x=20 + 120 * 1.3 + 300)])  # the next lane, at the same moment
    moving(g, "B 1234 XYZ", (1.8, 2.3))
    assert plates(g.flush()) == [("B 1234 XYZ", 3), ("D 5678 AB", 1)]


def test_a_different_plate_where_the_plate_was_is_still_its_own_sighting() -> None:
    """Text guards place: a plate that is no garbled read of the car's, even right where that plate was."""
    g = PlateGrouper(end_after_us=END_AFTER_US, max_open_us=60 * S)
    moving(g, "B 1234 XYZ", (0.8,))
    g.add([obs("D 5678 AB", 1.3, x=20 + 120 * 1.3)])
    moving(g, "B 1234 XYZ", (1.8, 2.3))
    assert plates(g.flush()) == [("B 1234 XYZ", 3), ("D 5678 AB", 1)]


def test_a_short_plate_elsewhere_or_in_the_same_frame_is_still_its_own_sighting() -> None:
    g = PlateGrouper(end_after_us=END_AFTER_US, max_open_us=60 * S)
    moving(g, "B 1234 XYZ", (0.8,))
    g.add([obs("B 17", 1.3, x=520, width=60)])  # three plate widths from where the plate was
    moving(g, "B 1234 XYZ", (1.8, 2.3))
    assert plates(g.flush()) == [("B 1234 XYZ", 3), ("B 17", 1)]
    g = PlateGrouper(end_after_us=END_AFTER_US, max_open_us=60 * S)
    moving(g, "B 1234 XYZ", (0.8,))
    g.add([obs("B 1234 XYZ", 1.8, x=20 + 120 * 1.8), obs("B 12", 1.8, x=20 + 120 * 1.8 + 60, width=50)])
    moving(g, "B 1234 XYZ", (2.3,))  # two lines in one frame are two plates, however near
    assert plates(g.flush()) == [("B 1234 XYZ", 3), ("B 12", 1)]


def test_the_same_plate_read_again_after_its_group_closed_is_a_new_sighting() -> None:
    g = PlateGrouper(end_after_us=END_AFTER_US, max_open_us=60 * S)
    moving(g, "B 1234 XYZ", (0.8, 1.3, 1.8))
    assert plates(g.expire(round(1.8 * S) + END_AFTER_US + 1)) == [("B 1234 XYZ", 3)]
    g.add([obs("B 17", 5.0, x=236, width=44)])  # where the car was: it has gone
    g.add([obs("B 1234 XYZ", 5.5, x=236)])
    assert sorted(plates(g.flush())) == [("B 1234 XYZ", 1), ("B 17", 1)]


@pytest.fixture(scope="module")
def street_25() -> dict[int, list[Observation]]:
    """Reads of a 25 fps render of the street scene (the 640x360 sub stream), every 12th or 13th frame: 2 fps of
    analysis. In frame 33 the walker in front of the plate car makes the reader return ``B 17``."""
    reader = PlateReader(load_models(threads=1))
    scene = SceneRenderer(fps=25, duration=8.0)
    out = {}
    for index in (8, 20, 33, 45, 58, 70, 83, 95):
        rgb = np.asarray(scene.render(index).resize((640, 360), Image.Resampling.BOX))
        out[index] = reader.read(rgb, index * 40_000)
    return out


def test_the_street_scene_at_25_fps_yields_one_sighting_with_the_walkers_7(
        street_25: dict[int, list[Observation]]) -> None:
    """One of the 16 frame patterns of 200 that made ``B 17`` a sighting of its own (start frame 8)."""
    assert [o.read.plate.text for o in street_25[33]] == ["B 17"]
    g = PlateGrouper(end_after_us=END_AFTER_US, max_open_us=60 * S)
    closed = []
    for index in sorted(street_25):
        closed += g.expire(index * 40_000)
        g.add(street_25[index])
    closed += g.flush()
    assert [s.plate.text for s in closed] == ["B 1234 XYZ"]
    assert dict(closed[0].alternatives).get("B 17") == 1
