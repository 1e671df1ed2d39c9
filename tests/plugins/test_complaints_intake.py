"""Validation of complaints from JSON and CSV: each bad field named, unknown categories refused unless extensible."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from nvr.plugins.complaints.config import ComplaintsConfig
from nvr.plugins.complaints.intake import IntakeError, parse_csv, parse_payload

S = 1_000_000
NOW = 1_767_225_600 * S  # 2026-01-01T00:00:00Z
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 20
GOOD = {"external_id": "JAKI-2026-0001", "category": "Banjir", "text": "Air masuk rumah warga",
        "lat": -6.1820, "lon": 106.8250, "reported_at": "2026-01-01T06:30:00+07:00"}


def test_a_good_payload() -> None:
    new = parse_payload({**GOOD, "kelurahan": "Menteng", "photo": base64.b64encode(JPEG).decode(),
                         "reporter": {"name": "Budi", "contact": "0812", "id": "u-1"}}, ComplaintsConfig(), NOW)
    assert (new.external_id, new.category, new.lat, new.lon) == ("JAKI-2026-0001", "banjir", -6.182, 106.825)
    assert new.reported_us == NOW - 30 * 60 * S and new.agency == "Dinas Sumber Daya Air"
    assert new.photo == ("image/jpeg", JPEG) and new.reporter.name == "Budi" and new.kelurahan == "Menteng"
    assert new.received_us == NOW
    assert parse_payload({**GOOD, "category": "jalan  rusak", "reported_at": NOW - S}, ComplaintsConfig(),
                         NOW).category == "jalan rusak"


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"external_id": None}, "external_id", "missing"),
    ({"external_id": "has space"}, "external_id", "letters"),
    ({"category": None}, "category", "missing"),
    ({"category": "gempa"}, "category", "unknown category"),
    ({"text": ""}, "text", "missing"),
    ({"text": 12}, "text", "string"),
    ({"text": "x" * 10_001}, "text", "longer than 10000"),
    ({"text": "x" * 10_000_000}, "text", "longer than"),
    ({"lat": None}, "lat", "missing"),
    ({"lat": 91}, "lat", "outside"),
    ({"lat": -90.5}, "lat", "outside"),
    ({"lon": 180.01}, "lon", "outside"),
    ({"lat": "north"}, "lat", "not a number"),
    ({"lat": True}, "lat", "number"),
    ({"lon": float("nan")}, "lon", "finite"),
    ({"reported_at": None}, "reported_at", "missing"),
    ({"reported_at": "yesterday"}, "reported_at", "ISO 8601"),
    ({"reported_at": "2026-01-01T06:30:00"}, "reported_at", "time zone"),
    ({"reported_at": "2026-02-01T00:00:00Z"}, "reported_at", "future"),
    ({"reported_at": [1]}, "reported_at", "ISO 8601"),
    ({"photo": "!!not base64!!"}, "photo", "base64"),
    ({"photo": base64.b64encode(b"GIF89a....").decode()}, "photo", "JPEG or PNG"),
    ({"reporter": "Budi"}, "reporter", "object"),
    ({"reporter": {"nik": "3171"}}, "reporter.nik", "unknown field"),
    ({"colour": "red"}, "colour", "unknown field"),
])
def test_bad_payloads_name_the_field(change, field, words) -> None:
    with pytest.raises(IntakeError) as info:
        parse_payload({**GOOD, **change}, ComplaintsConfig(), NOW)
    assert info.value.field == field and words in info.value.message


def test_not_an_object() -> None:
    with pytest.raises(IntakeError) as info:
        parse_payload([GOOD], ComplaintsConfig(), NOW)
    assert info.value.field == "body"


def test_categories_from_config_and_extensible() -> None:
    config = ComplaintsConfig.model_validate({"default_agency": "Kelurahan", "categories": [
        {"name": "pohon tumbang", "agency": "Dinas Pertamanan", "radius_m": 150},
        {"name": "kebakaran", "event_kinds": ["fire"], "before_min": 60}]})
    assert parse_payload({**GOOD, "category": "pohon tumbang"}, config, NOW).agency == "Dinas Pertamanan"
    assert config.category("pohon tumbang").radius_m == 150
    fire = config.category("kebakaran")
    assert (fire.event_kinds, fire.before_min, fire.after_min, fire.radius_m) == (("fire",), 60, 10, 300)
    assert config.category("lainnya").agency == "Kelurahan"  # no agency of its own: the default
    with pytest.raises(IntakeError):
        parse_payload({**GOOD, "category": "gempa"}, config, NOW)
    open_config = ComplaintsConfig(extensible=True)
    assert parse_payload({**GOOD, "category": "gempa"}, open_config, NOW).category == "gempa"
    with pytest.raises(ValueError, match="twice"):
        ComplaintsConfig.model_validate({"categories": [{"name": "banjir"}, {"name": "banjir"}]})


def test_photo_size_limit() -> None:
    config = ComplaintsConfig(max_photo_bytes=1000)
    with pytest.raises(IntakeError, match="larger than 1000"):
        parse_payload({**GOOD, "photo": base64.b64encode(JPEG + bytes(2000)).decode()}, config, NOW)
    with pytest.raises(IntakeError, match="not accepted"):
        parse_payload({**GOOD, "photo": base64.b64encode(JPEG).decode()}, ComplaintsConfig(max_photo_bytes=0), NOW)


def test_csv_rows_all_checked(tmp_path: Path) -> None:
    (tmp_path / "p.jpg").write_bytes(JPEG)
    text = ("external_id,category,text,lat,lon,reported_at,kelurahan,reporter_name,reporter_contact,reporter_id,photo\n"
            "C-1,sampah,Sampah menumpuk,-6.19,106.82,2026-01-01T00:00:00Z,Menteng,Ani,0813,,p.jpg\n"
            "C-2,macet,\"Macet total, dua jam\",-6.20,106.83,2025-12-31T23:00:00Z,,,,,\n")
    found, problems = parse_csv(text, ComplaintsConfig(), NOW, tmp_path)
    assert problems == []
    assert [(c.external_id, c.source, c.body) for c in found] == [("C-1", "csv", "Sampah menumpuk"),
                                                                  ("C-2", "csv", "Macet total, dua jam")]
    assert found[0].photo == ("image/jpeg", JPEG) and found[0].reporter.name == "Ani" and found[1].reporter is None
    bad = text + "C-3,banjir,x,91,106.8,2026-01-01T00:00:00Z,,,,,\nC-1,banjir,x,-6.1,106.8,2026-01-01T00:00:00Z,,,,,\n"
    found, problems = parse_csv(bad, ComplaintsConfig(), NOW, tmp_path)
    assert problems == ["line 4: lat: 91.0 is outside -90 to 90", "line 5: external_id: 'C-1' is also on line 2"]
    _, problems = parse_csv("id,category\n1,banjir\n", ComplaintsConfig(), NOW, tmp_path)
    assert problems[0] == "line 1: id: unknown column; expected external_id, category, text, lat, lon, reported_at, " \
                          "kelurahan, reporter_name, reporter_contact, reporter_id, photo"
    assert "line 1: external_id: missing column" in problems
