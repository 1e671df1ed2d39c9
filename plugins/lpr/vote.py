"""Voting: the reads of one vehicle across frames -> one plate, group by group and character by character."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from nvr.plate_text import Plate

from .reader import Observation


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


def _vote_segment(reads: Sequence[Observation], index: int) -> tuple[str, list[float]]:
    """Winning text of segment ``index`` (0 region, 1 number, 2 suffix) and each winning character's support."""
    total = sum(o.read.confidence for o in reads) or 1.0
    if index == 0:  # the region is one code, voted whole: RI and R I are different places
        votes: dict[str, float] = defaultdict(float)
        for o in reads:
            n = len(o.read.plate.region)
            votes[o.read.plate.region] += o.read.confidence * sum(o.read.confidences[:n]) / n
        region = max(votes, key=lambda k: (votes[k], k))
        support = votes[region] / total
        return region, [support] * len(region)
    lengths: dict[int, float] = defaultdict(float)
    for o in reads:
        lengths[len(_segments(o.read.plate)[index])] += o.read.confidence
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
    region, s0 = _vote_segment(reads, 0)
    number, s1 = _vote_segment(reads, 1)
    suffix, s2 = _vote_segment(reads, 2)
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
