"""Grouping reads into vehicles when part of a plate is hidden: a passer-by in front of the plate, real reads."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nvr.plugins.lpr.grammar import chars_of, normalise
from nvr.plugins.lpr.group import PlateGrouper
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
