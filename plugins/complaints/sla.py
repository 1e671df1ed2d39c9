"""The response deadline as a pure function: green, amber from day N, red when overdue; met or late once answered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DAY_US", "OPEN_STATUSES", "Sla", "SlaColour", "sla_of", "sla_window"]

DAY_US = 86_400 * 1_000_000
SlaColour = Literal["green", "amber", "red", "met", "late"]
OPEN_STATUSES = ("new", "linked", "in_progress")
"""Statuses still waiting for a response (their SLA colour moves with the clock)."""


@dataclass(frozen=True, slots=True)
class Sla:
    """A complaint's deadline, its colour now, and how many days have passed since the report."""

    colour: SlaColour
    due_us: int
    age_days: float


def sla_of(reported_us: int, responded_us: int | None, now_us: int, response_days: float,
           amber_days: float) -> Sla:
    """The SLA at ``now_us``.

    Unanswered: ``green`` before ``amber_days``, ``amber`` from then until the deadline (the deadline itself
    included), ``red`` after it. Answered: ``met`` if the response came by the deadline, else ``late``.
    """
    due = reported_us + round(response_days * DAY_US)
    age = (now_us - reported_us) / DAY_US
    if responded_us is not None:
        return Sla("met" if responded_us <= due else "late", due, age)
    if now_us > due:
        return Sla("red", due, age)
    if now_us - reported_us >= round(amber_days * DAY_US):
        return Sla("amber", due, age)
    return Sla("green", due, age)


def sla_window(colour: str, now_us: int, response_days: float, amber_days: float) -> tuple[int | None, int | None]:
    """``(reported at or after, reported before)`` of the unanswered complaints that are ``colour`` now.

    The inverse of ``sla_of`` for list filters; raises ``ValueError`` for a colour that is not green, amber or red.
    """
    amber_from = now_us - round(amber_days * DAY_US)  # reported at or before this: amber or red
    red_before = now_us - round(response_days * DAY_US)  # reported before this: red
    if colour == "green":
        return amber_from + 1, None
    if colour == "amber":
        return red_before, amber_from + 1
    if colour == "red":
        return None, red_before
    raise ValueError(f"sla: use green, amber or red, not {colour!r}")
