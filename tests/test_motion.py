"""The motion gate: change against a running background, masks, thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from nvr.motion import MotionDetector, grey_thumbnail


def frame(value: int = 100, square: tuple[int, int, int] | None = None) -> np.ndarray:
    grey = np.full((90, 160), value, np.uint8)
    if square is not None:
        x, y, size = square
        grey[y:y + size, x:x + size] = 250
    return grey


def test_first_frame_counts_as_motion_then_still_frames_do_not():
    det = MotionDetector()
    assert det.update(frame()).moving
    for _ in range(3):
        m = det.update(frame())
        assert not m.moving and m.fraction == 0 and m.box is None


def test_a_moving_square_is_motion_with_its_box():
    det = MotionDetector(threshold=25, min_fraction=0.002)
    det.update(frame())
    m = det.update(frame(square=(80, 45, 16)))
    assert m.moving
    assert m.fraction == pytest.approx(16 * 16 / (160 * 90))
    assert m.box == pytest.approx((0.5, 0.5, 96 / 160, 61 / 90))


def test_noise_below_the_threshold_is_not_motion():
    rng = np.random.default_rng(1)
    det = MotionDetector(threshold=25)
    det.update(frame())
    noisy = (frame().astype(int) + rng.integers(-10, 11, (90, 160))).astype(np.uint8)
    assert not det.update(noisy).moving


def test_small_change_below_min_fraction_is_not_motion():
    det = MotionDetector(min_fraction=0.01)
    det.update(frame())
    m = det.update(frame(square=(10, 10, 4)))  # 16 px = 0.1 %
    assert m.fraction > 0 and not m.moving


def test_masked_motion_is_ignored():
    mask = [(0.4, 0.4), (0.7, 0.4), (0.7, 0.8), (0.4, 0.8)]
    det = MotionDetector(masks=[mask])
    det.update(frame())
    assert not det.update(frame(square=(80, 45, 16))).moving
    assert det.update(frame(square=(10, 10, 16))).moving


def test_grey_thumbnail_shrinks_rgb():
    rgb = np.zeros((360, 640, 3), np.uint8)
    rgb[..., 0] = 255
    grey = grey_thumbnail(rgb)
    assert grey.shape == (90, 160) and grey.dtype == np.uint8
    assert int(grey[0, 0]) == 255 * 77 >> 8
