"""Wall-clock time: UTC microsecond conversions and injectable clocks."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = [
    "EPOCH",
    "Clock",
    "FixedClock",
    "ManualClock",
    "SystemClock",
    "from_utc_us",
    "now_us",
    "utc_us",
]

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def utc_us(dt: datetime) -> int:
    """Return ``dt`` as integer microseconds since the Unix epoch (UTC).

    ``dt`` must be timezone-aware; naive datetimes are ambiguous and raise
    ``ValueError``. The conversion is exact (integer arithmetic, no floats).
    """
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise ValueError(f"naive datetime {dt!r}: pass an aware datetime (UTC)")
    return (dt - EPOCH) // _ONE_US


def from_utc_us(us: int) -> datetime:
    """Return the aware UTC datetime for ``us`` microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=us)


@runtime_checkable
class Clock(Protocol):
    """Source of the current wall-clock time."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


def now_us(clock: Clock) -> int:
    """Return ``clock.now()`` as UTC microseconds since the epoch."""
    return utc_us(clock.now())


class SystemClock:
    """The real clock (``datetime.now(UTC)``)."""

    def now(self) -> datetime:
        """Return the current system time in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; for tests and simulations.

    Thread-safe, so code running on worker threads may read it too.
    """

    DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)

    def __init__(self, start: datetime | None = None) -> None:
        """Start at ``start`` (aware) or 2024-01-01T00:00:00Z."""
        start = self.DEFAULT_START if start is None else start
        utc_us(start)  # validates awareness
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the clock's current time."""
        with self._lock:
            return self._now

    def set(self, dt: datetime) -> None:
        """Jump to ``dt`` (aware; may go backwards, like a real clock step)."""
        utc_us(dt)
        with self._lock:
            self._now = dt.astimezone(UTC)

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by ``delta`` (a timedelta or seconds) and return the new time."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        with self._lock:
            self._now = self._now + delta
            return self._now


FixedClock = ManualClock
"""Alias: a ``ManualClock`` that a test simply never advances."""
