"""Export requests: every bad input named by its field; plans per camera with gaps and clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvr.export_plan import ExportInputError, clip_name, parse_time, plan_camera, validate_request
from nvr.storage.catalog import open_catalog
from tests.export_media import T0, record

H = 3_600_000_000
KNOWN = ["menteng-1", "gambir-1"]


def check(**overrides: object):
    fields = {"cameras": ["menteng-1"], "start": "2024-05-01T10:00:00Z", "end": "2024-05-01T11:00:00+00:00",
              "case": "LP/B/1234/V/2024/PMJ", "reason": "tawuran at the park", "hold": False, **overrides}
    return validate_request(fields["cameras"], fields["start"], fields["end"], fields["case"], fields["reason"],
                            fields["hold"], known=KNOWN, max_range_us=24 * H)


def test_a_good_request() -> None:
    req = check(cameras=["gambir-1", "menteng-1", "gambir-1"], start="2024-05-01T17:00:00+07:00", hold=True)
    assert req.cameras == ("gambir-1", "menteng-1") and req.start_us == T0 and req.end_us == T0 + H
    assert req.case == "LP/B/1234/V/2024/PMJ" and req.hold
    assert check(start=str(T0), end=T0 + 1).end_us == T0 + 1, "UTC microseconds work too"


@pytest.mark.parametrize(("overrides", "field", "words"), [
    ({"cameras": ["nope"]}, "cameras", "no camera named 'nope'"),
    ({"cameras": ["../../etc/passwd"]}, "cameras", "no camera named"),
    ({"cameras": []}, "cameras", "one or more"),
    ({"cameras": "menteng-1/../gambir-1"}, "cameras", "no camera named"),
    ({"end": "2024-05-01T09:00:00Z"}, "end", "after start"),
    ({"end": "2024-05-01T10:00:00Z"}, "end", "after start"),
    ({"end": "2024-05-02T10:00:01Z"}, "end", "maximum of 24 h"),
    ({"start": "2024-05-01T10:00:00"}, "start", "no time zone"),
    ({"start": "yesterday"}, "start", "not an ISO 8601 time"),
    ({"start": None}, "start", "missing"),
    ({"case": ""}, "case", "required"),
    ({"case": "A" * 101}, "case", "at most 100"),
    ({"case": "a\nb"}, "case", "control characters"),
    ({"reason": "  "}, "reason", "required"),
    ({"hold": "yes"}, "hold", "true or false"),
])
def test_bad_requests_name_the_field(overrides: dict, field: str, words: str) -> None:
    with pytest.raises(ExportInputError) as info:
        check(**overrides)
    assert info.value.field == field and words in str(info.value) and str(info.value).startswith(field + ":")
    assert info.value.status == 400


def test_parse_time_forms() -> None:
    assert parse_time("2024-05-01T10:00:00Z", "t") == T0
    assert parse_time("2024-05-01T10:00:00.5z", "t") == T0 + 500_000
    assert parse_time(T0, "t") == T0
    with pytest.raises(ExportInputError):
        parse_time(True, "t")


def test_clip_names_are_safe_and_unique() -> None:
    taken: set[str] = set()
    assert clip_name("menteng-1", T0, taken) == "menteng-1-20240501T100000Z.mp4"
    assert clip_name("menteng-1", T0, taken) == "menteng-1-20240501T100000Z-2.mp4"
    assert clip_name("../../x", T0, taken) == "x-20240501T100000Z.mp4"


async def test_plan_with_no_footage_is_refused(tmp_path: Path) -> None:
    async with await open_catalog(f"sqlite://{tmp_path / 'c.db'}") as catalog:
        await record(catalog, tmp_path / "storage", "menteng-1", T0, count=2)
        plan = await plan_camera(catalog, tmp_path / "storage", "menteng-1", T0 - 1_000_000, T0 + 1_000_000)
        assert plan.gaps == [(T0 - 1_000_000, T0)] and len(plan.clips) == 1
        with pytest.raises(ExportInputError, match="no footage") as info:
            await plan_camera(catalog, tmp_path / "storage", "menteng-1", T0 + 10_000_000, T0 + 20_000_000)
        assert info.value.status == 422
