"""Emergency rules on tracks: at least N matching objects (in a zone) for T seconds raise an event."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nvr.config import RuleConfig
from nvr.detection import Box
from nvr.tracker import Track


@dataclass(frozen=True, slots=True)
class RuleChange:
    """A rule's event began (``start``), goes on (``update``) or is over (``end``)."""

    action: str
    rule: RuleConfig
    time_us: int
    since_us: int
    count: int
    label: str
    score: float
    box: Box | None


@dataclass
class _State:
    since_us: int | None = None
    last_true_us: int | None = None
    active: bool = False
    label: str = ""


def _union(boxes: Iterable[Box]) -> Box | None:
    boxes = list(boxes)
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


class RuleEngine:
    """The rules of one camera. ``evaluate`` after each analysed frame with the tracks seen in it.

    A condition holds while at least ``min_count`` matching objects are seen;
    one missed frame does not break it as long as the condition was last true
    within ``grace_us`` (detectors miss objects now and then). The event
    starts once the condition has held ``seconds`` and ends ``grace_us`` after
    it stopped holding.
    """

    def __init__(self, rules: Iterable[RuleConfig], *, grace_us: int) -> None:
        self.rules = list(rules)
        self.grace_us = grace_us
        self._state = {rule.name: _State() for rule in self.rules}

    def _matching(self, rule: RuleConfig, tracks: Iterable[Track]) -> list[Track]:
        return [t for t in tracks if t.label in rule.labels and t.score >= rule.min_score
                and (rule.zone is None or rule.zone in t.zones)]

    def evaluate(self, time_us: int, seen: Iterable[Track]) -> list[RuleChange]:
        """Rule changes caused by the frame at ``time_us`` whose detections continued or started ``seen``."""
        seen = list(seen)
        changes: list[RuleChange] = []
        for rule in self.rules:
            state = self._state[rule.name]
            match = self._matching(rule, seen)
            if len(match) >= rule.min_count:
                if state.since_us is None or (state.last_true_us is not None
                                              and time_us - state.last_true_us > self.grace_us):
                    state.since_us = time_us
                state.last_true_us = time_us
                label = "crowd" if rule.type == "crowd" else max(match, key=lambda t: t.score).label
                score = max(t.score for t in match)
                box = _union(t.box for t in match)
                if not state.active and time_us - state.since_us >= rule.seconds * 1_000_000:
                    state.active, state.label = True, label
                    changes.append(RuleChange("start", rule, time_us, state.since_us, len(match), label, score, box))
                elif state.active:
                    changes.append(RuleChange("update", rule, time_us, state.since_us, len(match), state.label,
                                              score, box))
            else:
                changes.extend(self._maybe_end(rule, state, time_us))
        return changes

    def expire(self, now_us: int) -> list[RuleChange]:
        """End rules whose condition has not held for longer than the grace period (no frames, or none matching)."""
        out: list[RuleChange] = []
        for rule in self.rules:
            out.extend(self._maybe_end(rule, self._state[rule.name], now_us))
        return out

    def _maybe_end(self, rule: RuleConfig, state: _State, now_us: int) -> list[RuleChange]:
        if state.last_true_us is None or now_us - state.last_true_us <= self.grace_us:
            return []
        change = []
        if state.active:
            change.append(RuleChange("end", rule, state.last_true_us, state.since_us or state.last_true_us, 0,
                                     state.label, 0.0, None))
        self._state[rule.name] = _State()
        return change

    def close(self) -> list[RuleChange]:
        """End every active rule (the camera stops being analysed)."""
        out = []
        for rule in self.rules:
            state = self._state[rule.name]
            if state.active and state.last_true_us is not None:
                out.append(RuleChange("end", rule, state.last_true_us, state.since_us or state.last_true_us, 0,
                                      state.label, 0.0, None))
            self._state[rule.name] = _State()
        return out
