"""Voting: the reads of one vehicle across frames -> one plate, group by group and character by character."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from nvr.plate_text import Plate

from .reader import Observation

HIDDEN_LENGTH_WEIGHT = 0.5
"""A read whose plate is another read's of the same vehicle with part of it hidden (``B 1234`` or ``B 12 YZ``
beside ``B 1234 XYZ``: a passer-by in front of the plate) votes on the region and on the segments' lengths with
this share of its weight: it saw less, not a shorter plate, so one whole read outvotes one hidden read. Halved,
not ignored, so that one read with a stray letter (a plate border read as ``I``) does not outvote several whole
reads of a plate without one."""


@dataclass(frozen=True, slots=True)
class Sighting:
    """One vehicle's plate as voted from its reads, with the read that shows it best."""

    plate: Plate
    confidence: float
    reads: int
    agreement: float
    """Share of the reads (by weight) that spell exactly ``plate``."""
    first_us: int
    last_us: int
    best: Observation
    track_id: int | None
    alternatives: tuple[tuple[str, int], ...]
    """Other plates the reads spelled, with how many reads spelled each."""


def _segments(plate: Plate) -> tuple[str, str, str]:
    return plate.region, plate.number, plate.suffix


def is_hidden(part: str, whole: str) -> bool:
    """Is plate key ``part`` what is left of ``whole`` with some of it hidden: its characters in order, fewer?
    (``B 1234`` and ``B 12 YZ`` of ``B 1234 XYZ``: a passer-by in front of the end or of the middle.)"""
    if len(part) >= len(whole):
        return False
    rest = iter(whole)
    return all(c in rest for c in part)


def _vote_segment(reads: Sequence[Observation], index: int, weights: Sequence[float]) -> tuple[str, list[float]]:
    """Winning text of segment ``index`` (0 region, 1 number, 2 suffix) and each winning character's support;
    ``weights`` scale each read's vote on the region and on the segment's length."""
    total = sum(o.read.confidence for o in reads) or 1.0
    if index == 0:  # the region is one code, voted whole: RI and R I are different places
        votes: dict[str, float] = defaultdict(float)
        supports: dict[str, float] = defaultdict(float)
        for o, weight in zip(reads, weights, strict=True):
            n = len(o.read.plate.region)
            share = o.read.confidence * sum(o.read.confidences[:n]) / n
            votes[o.read.plate.region] += weight * share
            supports[o.read.plate.region] += share
        region = max(votes, key=lambda k: (votes[k], k))
        support = supports[region] / total
        return region, [support] * len(region)
    lengths: dict[int, float] = defaultdict(float)
    for o, weight in zip(reads, weights, strict=True):
        lengths[len(_segments(o.read.plate)[index])] += weight * o.read.confidence
    length = max(lengths, key=lambda k: (lengths[k], -k))
    chosen, support = [], []
    for position in range(length):
        chars: dict[str, float] = defaultdict(float)
        for o in reads:
            plate = o.read.plate
            text = _segments(plate)[index]
            if len(text) != length:
                continue
            start = len(plate.region) + (len(plate.number) if index == 2 else 0)
            chars[text[position]] += o.read.confidence * o.read.confidences[start + position]
        if index == 1 and position == 0:
            chars.pop("0", None)  # numbers never start with 0
        best = max(chars, key=lambda k: (chars[k], k)) if chars else "1"
        chosen.append(best)
        support.append(chars.get(best, 0.0) / total)
    return "".join(chosen), support


def vote(reads: Sequence[Observation]) -> Sighting:
    """Combine the reads of one vehicle (at least one) into a sighting; weights are the read confidences."""
    if not reads:
        raise ValueError("vote needs at least one read")
    keys = {o.read.plate.key for o in reads}
    hidden = {k for k in keys if any(is_hidden(k, other) for other in keys)}
    weights = [HIDDEN_LENGTH_WEIGHT if o.read.plate.key in hidden else 1.0 for o in reads]
    region, s0 = _vote_segment(reads, 0, weights)
    number, s1 = _vote_segment(reads, 1, weights)
    suffix, s2 = _vote_segment(reads, 2, weights)
    plate = Plate(region, number, suffix)
    support = s0 + s1 + s2
    total = sum(o.read.confidence for o in reads) or 1.0
    agreeing = [o for o in reads if o.read.plate == plate]
    best = max(agreeing or reads, key=lambda o: (o.read.confidence, -o.time_us))
    spelled = Counter(o.read.plate.text for o in reads if o.read.plate != plate)
    track = next((o.track_id for o in reads if o.track_id is not None), None)
    return Sighting(
        plate=plate, confidence=round(sum(support) / len(support), 4), reads=len(reads),
        agreement=round(sum(o.read.confidence for o in agreeing) / total, 4),
        first_us=min(o.time_us for o in reads), last_us=max(o.time_us for o in reads), best=best, track_id=track,
        alternatives=tuple(spelled.most_common(5)),
    )
