"""UTC microsecond conversions and the injectable clocks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from nvr.clock import (
    EPOCH,
    Clock,
    FixedClock,
    ManualClock,
    SystemClock,
    from_utc_us,
    now_us,
    utc_us,
)

WIB = timezone(timedelta(hours=7))  # Jakarta


def test_epoch_is_zero() -> None:
    assert utc_us(EPOCH) == 0
    assert from_utc_us(0) == EPOCH


def test_round_trip_is_exact() -> None:
    dt = datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)
    us = utc_us(dt)
    assert us == 1_709_251_199_999_999
    assert from_utc_us(us) == dt
    far = datetime(2262, 4, 11, 23, 47, 16, 854_775, tzinfo=UTC)  # beyond float precision
    assert from_utc_us(utc_us(far)) == far
    assert utc_us(datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)) == -1_000_000


def test_other_timezones_convert_to_utc() -> None:
    local = datetime(2024, 1, 1, 7, 0, tzinfo=WIB)
    assert utc_us(local) == utc_us(datetime(2024, 1, 1, tzinfo=UTC))
    back = from_utc_us(utc_us(local))
    assert back.tzinfo == UTC and back == local


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        utc_us(datetime(2024, 1, 1))


def test_system_clock_is_aware_utc_and_current() -> None:
    clock = SystemClock()
    assert isinstance(clock, Clock)
    now = clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5


def test_manual_clock() -> None:
    clock = ManualClock()
    assert isinstance(clock, Clock)
    assert clock.now() == ManualClock.DEFAULT_START
    assert clock.now() == clock.now()  # does not move by itself
    assert clock.advance(1.5) == ManualClock.DEFAULT_START + timedelta(seconds=1.5)
    clock.advance(timedelta(minutes=1))
    assert now_us(clock) == utc_us(ManualClock.DEFAULT_START) + 61_500_000
    clock.set(datetime(2020, 1, 1, 7, tzinfo=WIB))  # may step backwards
    assert clock.now() == datetime(2020, 1, 1, tzinfo=UTC)
    assert clock.now().tzinfo == UTC
    with pytest.raises(ValueError):
        clock.set(datetime(2020, 1, 1))
    with pytest.raises(ValueError):
        ManualClock(datetime(2020, 1, 1))


def test_fixed_clock_is_a_manual_clock_and_thread_safe() -> None:
    clock = FixedClock(datetime(2024, 5, 1, tzinfo=UTC))
    threads = [threading.Thread(target=lambda: [clock.advance(0.001) for _ in range(1000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.now() == datetime(2024, 5, 1, tzinfo=UTC) + timedelta(seconds=4)
