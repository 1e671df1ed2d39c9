"""Media time and wall time: unwrapping, jumps, missing dts, anchoring, contiguity, slew and resync."""

from __future__ import annotations

from itertools import pairwise

import pytest

from nvr.stream_time import MAX_SLEW, MEDIA_HZ, MediaTimeline, WallClock, ticks_to_us, us_to_90k

F = 3600  # one frame at 25 fps, 90 kHz
T0 = 1_700_000_000_000_000  # a wall time in µs
FRAME_US = 40_000


def feed(timeline: MediaTimeline, packets: list[tuple[int | None, int]]) -> list[int]:
    """Positions for (raw dts, receipt offset in µs) pairs."""
    return [timeline.position(raw, T0 + at) for raw, at in packets]


def cadence(start: int, count: int, first_at: int = 0, step: int = F) -> list[tuple[int | None, int]]:
    return [(start + i * step, first_at + i * FRAME_US) for i in range(count)]


@pytest.mark.parametrize(
    ("name", "packets", "expected", "jumps", "wraps"),
    [
        ("steady cadence from any origin", cadence(123_456, 4), [0, F, 2 * F, 3 * F], 0, 0),
        ("first packet without dts sits one frame before the next",
         [(None, 0), (90_000, 40_000), (90_000 + F, 80_000)], [0, F, 2 * F], 0, 0),
        ("missing dts mid-stream: one frame later",
         [(0, 0), (F, 40_000), (None, 80_000), (3 * F, 120_000)], [0, F, 2 * F, 3 * F], 0, 0),
        ("missing dts after a pause: the cadence of the wall time that passed",
         [(0, 0), (F, 40_000), (None, 3_040_000)], [0, F, F + 75 * F], 0, 0),
        ("32-bit RTP wrap is unwrapped exactly",
         [((1 << 32) - 2 * F, 0), ((1 << 32) - F, 40_000), (0, 80_000), (F, 120_000)], [0, F, 2 * F, 3 * F], 0, 1),
        ("33-bit MPEG-TS wrap is unwrapped exactly",
         [((1 << 33) - F, 0), (0, 40_000), (F, 80_000)], [0, F, 2 * F], 0, 1),
        ("forward jump of 100 s is rebased to the cadence",
         [(0, 0), (F, 40_000), (F + 100 * MEDIA_HZ, 80_000), (2 * F + 100 * MEDIA_HZ, 120_000)],
         [0, F, 2 * F, 3 * F], 1, 0),
        ("backward jump of 30 s is rebased",
         [(100 * MEDIA_HZ, 0), (100 * MEDIA_HZ + F, 40_000), (70 * MEDIA_HZ, 80_000), (70 * MEDIA_HZ + F, 120_000)],
         [0, F, 2 * F, 3 * F], 1, 0),
        ("forward jump of 3 s with no wall time passing is rebased",
         [(0, 0), (F, 40_000), (F + 3 * MEDIA_HZ, 80_000)], [0, F, 2 * F], 1, 0),
        ("repeated dts is a (tiny) jump: media time still advances",
         [(0, 0), (F, 40_000), (F, 80_000), (2 * F, 120_000)], [0, F, 2 * F, 3 * F], 1, 0),
        ("a pause the timestamps agree with is kept as a media gap",
         [(0, 0), (F, 40_000), (F + 4 * MEDIA_HZ, 4_040_000)], [0, F, F + 4 * MEDIA_HZ], 0, 0),
        ("frame interval follows the stream (30 fps)",
         [(0, 0), (3000, 33_333), (None, 66_666)], [0, 3000, 6000], 0, 0),
    ],
)
def test_media_timeline(name: str, packets: list[tuple[int | None, int]], expected: list[int], jumps: int,
                        wraps: int) -> None:
    timeline = MediaTimeline(frame_duration=F)
    assert feed(timeline, packets) == expected, name
    assert (timeline.jumps, timeline.wraps) == (jumps, wraps), name
    if jumps or wraps:
        assert timeline.last_event


def test_media_timeline_positions_strictly_increase_through_any_sequence() -> None:
    timeline = MediaTimeline(frame_duration=F)
    raws = [0, F, 2 * F, None, 2 * F, 10 * F, -5, (1 << 32) - 1, 0, None, None, 7 * MEDIA_HZ, 5]
    positions = feed(timeline, [(raw, i * FRAME_US) for i, raw in enumerate(raws)])
    assert all(b > a for a, b in pairwise(positions)), positions


def test_conversions_are_exact_on_frame_boundaries() -> None:
    assert ticks_to_us(90_000) == 1_000_000
    assert us_to_90k(1_000_000) == 90_000
    assert ticks_to_us(F) == FRAME_US and us_to_90k(FRAME_US) == F


def run_segments(clock: WallClock, boundaries: list[int], receipts: dict[int, int]) -> list[tuple[int, int, bool]]:
    """Observe every frame's receipt, close a segment at each boundary; return (start, end, resync)."""
    out = []
    pos = 0
    for boundary in boundaries:
        start = clock.seg_start_wall
        while pos < boundary:
            clock.observe(pos, receipts[pos])
            pos += F
        end, resync = clock.end_segment(boundary)
        out.append((start, end, resync))
    return out


def receipts_for(count: int, *, rate: float = 1.0, latency: int = 5_000, jitter: int = 0, start: int = T0,
                 burst: int = 0) -> dict[int, int]:
    """Receipt time of frame i: sent at ``start + i*40ms*rate`` plus latency, jitter (every other frame) and an
    initial burst (the first ``burst`` frames all delivered together, as after connection setup)."""
    times = {}
    for i in range(count):
        sent = start + round(i * FRAME_US * rate)
        times[i * F] = sent + latency + (jitter if i % 2 else 0)
    if burst:
        late = times[(burst - 1) * F]
        for i in range(burst):
            times[i * F] = late
    return times


def test_wall_clock_anchors_at_earliest_plausible_receipt_despite_a_buffered_burst() -> None:
    clock = WallClock()
    receipts = receipts_for(40, burst=28)  # 28 frames arrive together after ~1.1 s, like PyAV's probing
    for i in range(40):
        clock.observe(i * F, receipts[i * F])
    assert clock.start_run(0) == T0 + 5_000


def test_wall_clock_segments_are_contiguous_and_track_receipts_without_drift() -> None:
    clock = WallClock()
    receipts = receipts_for(2000, jitter=30_000)
    clock.observe(0, receipts[0])
    clock.start_run(0)
    segments = run_segments(clock, [250 * F, 500 * F, 1000 * F, 1500 * F], receipts)
    for (_, end, _), (start, _, _) in pairwise(segments):
        assert start == end
    assert [resync for *_, resync in segments] == [False] * 4
    # media and wall agree: every segment's wall length is its media length (±1 µs rounding)
    lengths = [end - start for start, end, _ in segments]
    assert lengths == pytest.approx([10_000_000, 10_000_000, 20_000_000, 20_000_000], abs=2)


@pytest.mark.parametrize(("rate", "slewed"), [(1.001, True), (0.999, True), (1.004, True), (1.02, False)])
def test_wall_clock_follows_camera_clock_drift_within_the_slew_limit(rate: float, slewed: bool) -> None:
    """A camera clock off by ``rate``: wall lengths follow the receipts while the error fits in 0.5 %."""
    clock = WallClock()
    receipts = receipts_for(3000, rate=rate)
    clock.observe(0, receipts[0])
    clock.start_run(0)
    boundaries = [i * 500 * F for i in range(1, 6)]  # 20 s segments
    segments = run_segments(clock, boundaries, receipts)
    media_us = 20_000_000
    for start, end, _ in segments:
        assert abs((end - start) - media_us) <= media_us * MAX_SLEW + 1
    sent_end = T0 + round(2500 * FRAME_US * rate)  # when the frame after the last segment was sent
    if slewed:
        assert not any(resync for *_, resync in segments)
        assert abs(segments[-1][1] - sent_end) < 25_000  # within the window's lag of the receipts
    else:
        assert any(resync for *_, resync in segments)  # 2 % cannot be followed at 0.5 %: a new run


def test_wall_clock_asks_for_a_new_run_beyond_one_second_of_error() -> None:
    clock = WallClock()
    receipts = receipts_for(500)
    for pos in range(250 * F, 500 * F, F):
        receipts[pos] += 3_000_000  # the wall clock stepped 3 s forward (or the camera lost 3 s)
    clock.observe(0, receipts[0])
    start = clock.start_run(0)
    (s0, e0, r0), (s1, e1, r1) = run_segments(clock, [250 * F, 500 * F], receipts)
    assert (s0, r0) == (start, False)
    assert r1 is True  # the caller ends the run here and starts a new one at the receipt-based time
    assert e1 - s1 == 10_000_000  # the segment keeps its media length
    assert clock.start_run(500 * F) == pytest.approx(T0 + 5_000 + 20_000_000 + 3_000_000, abs=1)


def test_wall_clock_forget_reanchors_on_new_observations() -> None:
    clock = WallClock()
    clock.observe(0, T0)
    clock.start_run(0)
    clock.end_segment(10 * F)
    clock.forget()
    with pytest.raises(RuntimeError):
        clock.offset()
    clock.observe(11 * F, T0 + 60_000_000)
    assert clock.start_run(11 * F) == T0 + 60_000_000


def test_segment_end_is_never_before_its_start() -> None:
    clock = WallClock()
    clock.observe(0, T0)
    clock.start_run(0)
    end, _ = clock.end_segment(1)
    assert end > T0


@pytest.mark.parametrize("first", [True, False])
def test_late_start_anchor_is_absorbed_by_the_first_segment_only(first: bool) -> None:
    """The first 2 s of packets arrive 1.5 s late (encoder start-up), then on time: the run's first
    segment shrinks to fit; a later segment with the same error asks for a new run instead."""
    clock = WallClock()
    receipts = receipts_for(500)
    for pos in range(0, 50 * F, F):
        receipts[pos] += 1_500_000
    clock.observe(0, receipts[0])
    start = clock.start_run(0)
    pos = 0
    while pos < 250 * F:
        clock.observe(pos, receipts[pos])
        pos += F
    end, resync = clock.end_segment(250 * F, first=first)
    if first:
        assert not resync
        assert end - start == pytest.approx(10_000_000 - 1_500_000, abs=50_000)
    else:
        assert resync and end - start == 10_000_000
