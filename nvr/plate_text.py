"""Indonesian licence plates as text: region codes, the canonical search key, display form and fuzzy distance."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

REGIONS: frozenset[str] = frozenset((
    # Java, Bali and Nusa Tenggara
    "A", "B", "D", "E", "F", "G", "H", "K", "L", "M", "N", "P", "R", "S", "T", "W", "Z",
    "AA", "AB", "AD", "AE", "AG", "DK", "DR", "EA", "DH", "EB", "ED",
    # Sumatra
    "BA", "BB", "BD", "BE", "BG", "BH", "BK", "BL", "BM", "BN", "BP",
    # Kalimantan
    "DA", "KB", "KH", "KT", "KU",
    # Sulawesi
    "DB", "DC", "DD", "DL", "DM", "DN", "DT",
    # Maluku and Papua
    "DE", "DG", "DS", "PA", "PB", "PG", "PS", "PT", "PY",
))
"""Region codes (kode wilayah) of the Korlantas POLRI list (2024, with the new Papua provinces)."""

CONFUSIONS: tuple[tuple[str, str], ...] = (("O", "0"), ("I", "1"), ("B", "8"), ("S", "5"), ("Z", "2"))
"""Letter/digit pairs OCR mixes up most on plates."""
WEAK_CONFUSIONS: tuple[tuple[str, str], ...] = (("D", "0"), ("Q", "0"), ("G", "6"), ("A", "4"), ("T", "7"),
                                                ("L", "1"), ("J", "1"), ("U", "0"), ("E", "F"), ("P", "R"))
"""Pairs that happen on blurred plates, less often."""
CONFUSION_COST = 0.25
"""Edit cost of replacing one character of a ``CONFUSIONS`` pair by the other."""
WEAK_CONFUSION_COST = 0.5
"""Edit cost for a ``WEAK_CONFUSIONS`` pair."""

PLATE_RE = re.compile(r"^([A-Z]{1,2})([1-9][0-9]{0,3})([A-Z]{0,3})$")
"""A canonical key: region, 1-4 digits not starting with 0, 0-3 letters."""

_COSTS: dict[tuple[str, str], float] = {}
for _pairs, _cost in ((WEAK_CONFUSIONS, WEAK_CONFUSION_COST), (CONFUSIONS, CONFUSION_COST)):
    for _a, _b in _pairs:
        _COSTS[(_a, _b)] = _COSTS[(_b, _a)] = _cost


def canonical(text: str) -> str:
    """Search key of a plate or query: upper case, letters and digits only (``"b 1234-xyz"`` -> ``"B1234XYZ"``)."""
    return "".join(c for c in text.upper() if c.isascii() and c.isalnum())


@dataclass(frozen=True, slots=True)
class Plate:
    """A plate that follows the grammar: ``region`` letters, ``number`` digits, ``suffix`` letters."""

    region: str
    number: str
    suffix: str

    @property
    def key(self) -> str:
        return f"{self.region}{self.number}{self.suffix}"

    @property
    def text(self) -> str:
        """Display form with spaces, as printed on the plate: ``B 1234 XYZ``."""
        return " ".join(p for p in (self.region, self.number, self.suffix) if p)

    def __str__(self) -> str:
        return self.text


def parse_plate(text: str) -> Plate | None:
    """The plate ``text`` spells exactly (spaces and case ignored; no corrections), or None."""
    key = canonical(text)
    match = PLATE_RE.match(key)
    if match is None or match.group(1) not in REGIONS:
        return None
    return Plate(*match.groups())


def display(text: str) -> str:
    """A plate key or text in display form when it parses (``B1234XYZ`` -> ``B 1234 XYZ``), else as given."""
    plate = parse_plate(text)
    return plate.text if plate is not None else text


def substitution_cost(a: str, b: str) -> float:
    """Cost of reading ``b`` where ``a`` is printed: 0 if equal, cheap for OCR confusions, else 1."""
    if a == b:
        return 0.0
    return _COSTS.get((a, b), 1.0)


@lru_cache(maxsize=65536)
def plate_distance(a: str, b: str) -> float:
    """Weighted edit distance between two canonical keys: insert/delete 1, substitute 1, confusions cheaper."""
    if a == b:
        return 0.0
    previous = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, start=1):
        current = [float(i)]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1.0, current[j - 1] + 1.0, previous[j - 1] + substitution_cost(ca, cb)))
        previous = current
    return previous[-1]


def matches(a: str, b: str, budget: float) -> bool:
    """Do two plates (any form) match within ``budget``? 0 means exactly equal keys."""
    ka, kb = canonical(a), canonical(b)
    if abs(len(ka) - len(kb)) > budget:
        return False
    return plate_distance(ka, kb) <= budget + 1e-9
