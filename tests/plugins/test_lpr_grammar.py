"""The plate grammar: OCR text -> an Indonesian plate, or nothing; position-aware fixes of OCR confusions."""

from __future__ import annotations

import pytest

from nvr.plate_text import REGIONS, display, parse_plate
from nvr.plugins.lpr.grammar import chars_of, max_fixes, normalise
from nvr.plugins.lpr.textrec import Char, TextRead


@pytest.mark.parametrize(("raw", "plate"), [
    # read right
    ("B 1234 XYZ", "B 1234 XYZ"),
    ("B1234XYZ", "B 1234 XYZ"),
    ("b 1234 xyz", "B 1234 XYZ"),
    ("AB 27 KT", "AB 27 KT"),
    ("DK 1 A", "DK 1 A"),
    ("B 1 S", "B 1 S"),
    ("F 9", "F 9"),
    ("KB 4821", "KB 4821"),
    ("B-1234-XYZ", "B 1234 XYZ"),
    # a digit where the region letter must be
    ("8 1234 XYZ", "B 1234 XYZ"),
    ("5 1234 XY", "S 1234 XY"),
    ("2 77 AB", "Z 77 AB"),
    # letters where digits must be
    ("B I234 XYZ", "B 1234 XYZ"),
    ("B 12O4 XYZ", "B 1204 XYZ"),
    ("B 12S4 XY", "B 1254 XY"),
    ("B 1B34 XY", "B 1834 XY"),
    ("B 1Z34 XY", "B 1234 XY"),
    # digits where suffix letters must be
    ("B 1234 XY2", "B 1234 XYZ"),
    ("B 1234 5O", "B 1234 SO"),
    ("B 1234 X8", "B 1234 XB"),
    ("D 8O5I SO", "D 8051 SO"),
    # two fixes in one read
    ("8 I234 XYZ", "B 1234 XYZ"),
    # a stray character at either end (the plate border read as I or 1)
    ("IB 1234 XYZ", "B 1234 XYZ"),
    ("B 1234 XYZ1", "B 1234 XYZ"),
    # the spaces pick the split: BB 123 vs B 8123
    ("B8123 XY", "B 8123 XY"),
    ("BB 123 XY", "BB 123 XY"),
    ("B8 123 XY", "BB 123 XY"),
])
def test_reads_that_are_plates(raw: str, plate: str) -> None:
    read = normalise(chars_of(raw))
    assert read is not None, raw
    assert read.plate.text == plate
    assert len(read.confidences) == len(read.plate.key)


@pytest.mark.parametrize("raw", [
    "00:00:03.40  #0034",      # the burned-in clock
    "00:00:03.40",
    "#0034",                   # its frame counter: no letter at all
    "2026-01-15 07:00:01",     # a date-time overlay
    "08.29",                   # the validity line under the number
    "12345",
    "HALTE BIS 24 JAM",        # shop signs and words
    "HALT",
    "BIS",
    "BIS 24",
    "JAKARTA",
    "TOKO",
    "BOS",                     # B + 05: numbers never start with 0
    "B 0123 XY",
    "B 12345 XYZ",             # five digits
    "B1234XYZABC",             # three letters too many
    "Q 1234 XY",               # no region Q
    "XX 1234 AB",              # no region XX
    "RI 1",                    # the state's RI plates are not in the civil grammar
    "8I 2 S",                  # too many fixes for so short a read
    "",
])
def test_reads_that_are_not_plates(raw: str) -> None:
    assert normalise(chars_of(raw)) is None


def test_fixes_cost_confidence_and_are_counted() -> None:
    clean = normalise(chars_of("B 1234 XYZ", 0.9))
    fixed = normalise(chars_of("8 I234 XYZ", 0.9))
    assert clean is not None and fixed is not None
    assert (clean.fixes, fixed.fixes) == (0, 2)
    assert normalise(chars_of("8 I234 XY2")) is None  # three fixes in eight characters: too many
    assert fixed.cost > clean.cost == 0
    assert fixed.confidence < clean.confidence == pytest.approx(0.9)


def test_fixes_allowed_grow_with_length() -> None:
    assert [max_fixes(n) for n in (2, 3, 4, 6, 7, 9)] == [0, 0, 1, 1, 2, 2]


def _read(*chars: Char) -> TextRead:
    return TextRead(chars)


def _c(c: str, *alts: tuple[str, float]) -> Char:
    return Char(c, alts[0][1] if alts else 0.95, alts or ((c, 0.95),))


def test_the_recognisers_near_tie_beats_the_confusion_table() -> None:
    """A 0 where a suffix letter must be is usually O; when the model nearly said D, it is D."""
    body = (_c("B"), _c(" "), _c("1"), _c("2"), _c("3"), _c("4"), _c(" "), _c("A"))
    plain = normalise(_read(*body, _c("0")))
    helped = normalise(_read(*body, _c("0", ("0", 0.55), ("D", 0.45))))
    assert plain is not None and plain.plate.text == "B 1234 AO"
    assert helped is not None and helped.plate.text == "B 1234 AD"
    # a second choice the model barely considered is not taken over the table
    faint = normalise(_read(*body, _c("0", ("0", 0.9), ("D", 0.05))))
    assert faint is not None and faint.plate.text == "B 1234 AO"


def test_region_list_and_plate_text_helpers() -> None:
    assert {"B", "D", "AB", "DK", "KT", "PA"} <= REGIONS and "Q" not in REGIONS
    assert all(1 <= len(r) <= 2 and r.isalpha() and r.isupper() for r in REGIONS)
    plate = parse_plate("b1234xyz")
    assert plate is not None and (plate.region, plate.number, plate.suffix, plate.key) == ("B", "1234", "XYZ",
                                                                                            "B1234XYZ")
    assert parse_plate("B 1234 XY2") is None  # parse_plate never corrects
    assert display("AB27KT") == "AB 27 KT" and display("not a plate") == "not a plate"
