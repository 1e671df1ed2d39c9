"""The status workflow: new -> linked -> in_progress -> responded -> closed, and which moves are allowed."""

from __future__ import annotations

__all__ = ["LABELS", "STATUSES", "TRANSITIONS", "allowed_from", "check_transition", "next_statuses"]

from nvr.storage.complaints_catalog import STATUSES

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("linked", "in_progress"),  # in_progress straight away when no camera is near
    "linked": ("in_progress",),
    "in_progress": ("responded",),
    "responded": ("closed",),
    "closed": (),
}
"""Status -> the statuses it may move to. ``linked`` is set by linking; people move the rest."""
LABELS = {"new": "new", "linked": "linked", "in_progress": "in progress", "responded": "responded",
          "closed": "closed"}


def next_statuses(current: str) -> tuple[str, ...]:
    """Where a complaint in ``current`` may go next."""
    return TRANSITIONS.get(current, ())


def allowed_from(target: str) -> tuple[str, ...]:
    """The statuses from which ``target`` may be reached."""
    return tuple(s for s, nxt in TRANSITIONS.items() if target in nxt)


def check_transition(current: str, target: str) -> str | None:
    """None if ``current`` -> ``target`` is allowed, else the reason (for a 409 naming ``status``)."""
    if target not in STATUSES:
        return f"unknown status {target!r}; use one of {', '.join(STATUSES)}"
    if target not in next_statuses(current):
        nxt = ", ".join(next_statuses(current)) or "nothing (it is closed)"
        return f"a {LABELS.get(current, current)} complaint cannot become {LABELS[target]}; next: {nxt}"
    return None
