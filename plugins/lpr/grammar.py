"""OCR text -> an Indonesian plate: region letters, digits, letters, with position-aware fixes of OCR confusions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from nvr.plate_text import CONFUSIONS, REGIONS, WEAK_CONFUSIONS, Plate

from .textrec import Char, TextRead

FIX_COST = 0.25
"""Cost of a CONFUSIONS fix (a 0 where a letter must be becomes O, an S where a digit must be becomes 5...)."""
WEAK_FIX_COST = 0.5
"""Cost of a WEAK_CONFUSIONS fix."""
ALT_FIX_COST = 0.75
"""Cost of taking the recogniser's own second choice, scaled down as it nears the first (0.75 x (1 - p2/p1))."""
ALT_MIN_PROB = 0.1
"""The recogniser's second choice is used only when it has at least this probability."""
DROP_COST = 0.6
"""Cost of dropping a stray character at either end (a plate border read as I or 1)."""
SPLIT_COST = 0.3
"""Cost of a group boundary without a space in a read that has spaces (or a space inside a group)."""
MAX_COST = 1.0
"""Reads whose cheapest parse costs more are not plates."""

_PARTNERS: dict[str, list[tuple[str, float]]] = {}
for _pairs, _cost in ((CONFUSIONS, FIX_COST), (WEAK_CONFUSIONS, WEAK_FIX_COST)):
    for _letter, _other in _pairs:
        _PARTNERS.setdefault(_letter, []).append((_other, _cost))
        _PARTNERS.setdefault(_other, []).append((_letter, _cost))


@dataclass(frozen=True, slots=True)
class PlateRead:
    """A read that follows the plate grammar: the plate, each character's confidence, and what it took."""

    plate: Plate
    confidences: tuple[float, ...]
    """One per character of ``plate.key``."""
    cost: float
    fixes: int
    raw: str

    @property
    def confidence(self) -> float:
        """Mean character confidence, lowered by the corrections it needed."""
        mean = sum(self.confidences) / len(self.confidences)
        return mean * max(0.0, 1.0 - 0.25 * self.cost)


def max_fixes(length: int) -> int:
    """Corrections a read of ``length`` characters may need: none below 4 (a word like BIS is no B 1 S), 2 from 7."""
    return max(0, (length - 1) // 3)


def chars_of(text: str, prob: float = 1.0) -> TextRead:
    """A read made of plain text (every character with probability ``prob``): for tests and tools."""
    return TextRead(tuple(Char(c, prob, ((c, prob),) if c.isalnum() else ()) for c in text.upper()))


def _options(char: Char, want_letter: bool, first_digit: bool = False) -> list[tuple[str, float, float]]:
    """``(character, cost, confidence)`` choices for a position that needs a letter (or a digit)."""
    def fits(c: str) -> bool:
        if want_letter:
            return c.isalpha()
        return c.isdigit() and not (first_digit and c == "0")

    out: dict[str, tuple[float, float]] = {}
    if fits(char.char):
        out[char.char] = (0.0, char.prob)
    for other, cost in _PARTNERS.get(char.char, ()):
        if fits(other) and other not in out:
            seen = char.prob_of(other)
            out[other] = (cost, max(seen, char.prob * (0.7 if cost <= FIX_COST else 0.5)))
    top = max(char.prob, 1e-6)
    for alt, p in char.alts:
        if fits(alt) and p >= ALT_MIN_PROB and alt != char.char:
            cost = ALT_FIX_COST * max(0.0, 1.0 - p / top)  # a near tie in the model beats the confusion table
            if alt not in out or cost < out[alt][0]:
                out[alt] = (cost, p)
    return sorted(((c, cost, conf) for c, (cost, conf) in out.items()), key=lambda o: (o[1], -o[2]))


def _group(chars: list[Char], letters: bool, region: bool = False) -> tuple[str, float, list[float], int] | None:
    """The cheapest letters (or digits) for a group: text, cost, confidences, fixes; None if impossible."""
    choices = [_options(c, letters, first_digit=not letters and i == 0)[:3] for i, c in enumerate(chars)]
    if any(not options for options in choices):
        return None
    best: tuple[str, float, list[float], int] | None = None
    combos = itertools.product(*choices) if region else [tuple(options[0] for options in choices)]
    for combo in combos:
        text = "".join(c for c, _, _ in combo)
        if region and text not in REGIONS:
            continue
        cost = sum(cost for _, cost, _ in combo)
        if best is None or cost < best[1]:
            best = (text, cost, [conf for _, _, conf in combo], sum(1 for _, cost, _ in combo if cost > 0))
    return best


def _split_penalty(gaps: list[bool], cuts: tuple[int, ...]) -> float:
    """Penalty for group boundaries that do not fall on the read's spaces (only when it has spaces)."""
    if not any(gaps):
        return 0.0
    boundaries = set(cuts)
    return sum(SPLIT_COST for i, gap in enumerate(gaps, start=1) if gap != (i in boundaries))


def normalise(read: TextRead, max_cost: float = MAX_COST) -> PlateRead | None:
    """The cheapest plate the read can be, or None when it is not a plate (a clock, a sign, a date)."""
    raw = read.text
    if ":" in raw:  # a burned-in clock or date-time
        return None
    chars: list[Char] = []
    gaps: list[bool] = []  # gaps[i]: a separator between chars[i] and chars[i + 1]
    pending_gap = False
    for c in read.chars:
        if c.char.isascii() and c.char.isalnum():
            if chars:
                gaps.append(pending_gap)
            chars.append(c)
            pending_gap = False
        else:
            pending_gap = True
    if not chars or len(chars) > 11 or not any(c.char.isalpha() for c in chars):
        return None  # nothing read as a letter: a counter, a date, a clock
    best: PlateRead | None = None
    for head, tail in ((0, 0), (1, 0), (0, 1), (1, 1)):
        body = chars[head:len(chars) - tail]
        body_gaps = gaps[head:len(gaps) - tail] if len(body) > 1 else []
        drop = DROP_COST * (head + tail)
        n = len(body)
        for r in (1, 2):
            for d in range(1, 5):
                s = n - r - d
                if not 0 <= s <= 3:
                    continue
                base = drop + _split_penalty(body_gaps, (r, r + d) if s else (r,))
                if base > max_cost or best is not None and base >= best.cost:
                    continue
                region = _group(body[:r], letters=True, region=True)
                number = _group(body[r:r + d], letters=False)
                suffix = _group(body[r + d:], letters=True) if s else ("", 0.0, [], 0)
                if region is None or number is None or suffix is None or number[3] > d // 2:
                    continue  # at least half the digits must be read as digits (HALT is no H 4 LT)
                cost = base + region[1] + number[1] + suffix[1]
                fixes = region[3] + number[3] + suffix[3]
                if cost > max_cost + 1e-9 or fixes > max_fixes(n):
                    continue
                if best is None or cost < best.cost - 1e-9:
                    best = PlateRead(Plate(region[0], number[0], suffix[0]),
                                     tuple(region[2] + number[2] + suffix[2]), round(cost, 4), fixes, raw)
    return best
