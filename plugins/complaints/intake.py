"""Validating a complaint from the API (JSON) or a CSV row: every problem names its field; nothing half-valid passes."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from nvr.clock import utc_us
from nvr.storage.complaints_catalog import NewComplaint, Reporter

from .config import ComplaintsConfig

__all__ = ["CSV_COLUMNS", "FIELDS", "IntakeError", "parse_csv", "parse_payload"]

FIELDS = ("external_id", "category", "text", "lat", "lon", "reported_at", "kelurahan", "reporter", "photo")
REPORTER_FIELDS = ("name", "contact", "id")
CSV_COLUMNS = ("external_id", "category", "text", "lat", "lon", "reported_at", "kelurahan", "reporter_name",
               "reporter_contact", "reporter_id", "photo")
MAX_ID = 128
MAX_SHORT = 200
FUTURE_SLACK_US = 3600 * 1_000_000
"""A report time up to an hour ahead of our clock is accepted (the app's clock may run fast)."""
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


class IntakeError(ValueError):
    """A complaint that cannot be accepted; ``field`` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _text(body: dict[str, Any], name: str, max_len: int, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise IntakeError(name, "missing")
        return None
    if not isinstance(value, str):
        raise IntakeError(name, f"must be a string, not {type(value).__name__}")
    value = value.strip()
    if len(value) > max_len:
        raise IntakeError(name, f"longer than {max_len} characters ({len(value)})")
    if "\x00" in value:
        raise IntakeError(name, "contains a NUL character")
    return value


def _coordinate(body: dict[str, Any], name: str, bound: float) -> float:
    value = body.get(name)
    if value is None or value == "":
        raise IntakeError(name, "missing")
    if isinstance(value, bool):
        raise IntakeError(name, "must be a number")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise IntakeError(name, f"not a number: {value[:40]!r}") from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise IntakeError(name, "must be a finite number")
    if not -bound <= value <= bound:
        raise IntakeError(name, f"{value} is outside -{bound:g} to {bound:g}")
    return float(value)


def _time(value: object, now_us: int) -> int:
    name = "reported_at"
    if value is None or value == "" or isinstance(value, bool):
        raise IntakeError(name, "missing; give an ISO 8601 time with a zone, e.g. 2026-03-01T08:15:00+07:00")
    if isinstance(value, int):
        us = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            raise IntakeError(name, f"not an ISO 8601 time: {value[:40]!r}") from None
        if parsed.tzinfo is None:
            raise IntakeError(name, f"{value!r} has no time zone; add Z or an offset such as +07:00")
        us = utc_us(parsed)
    else:
        raise IntakeError(name, "must be an ISO 8601 string or UTC microseconds")
    if us > now_us + FUTURE_SLACK_US:
        raise IntakeError(name, "is in the future")
    if us < 0:
        raise IntakeError(name, "is before 1970")
    return us


def _photo(value: object, limit: int) -> tuple[str, bytes] | None:
    if value is None or value == "":
        return None
    if limit <= 0:
        raise IntakeError("photo", "photos are not accepted here")
    if not isinstance(value, str):
        raise IntakeError("photo", "must be base64 text of a JPEG or PNG")
    if len(value) > limit * 4 // 3 + 8:
        raise IntakeError("photo", f"larger than {limit} bytes")
    try:
        data = base64.b64decode(value.split(",", 1)[1] if value.startswith("data:") else value, validate=True)
    except (binascii.Error, ValueError):
        raise IntakeError("photo", "not valid base64") from None
    return _image(data, limit)


def _image(data: bytes, limit: int) -> tuple[str, bytes]:
    if len(data) > limit:
        raise IntakeError("photo", f"larger than {limit} bytes")
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", data
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", data
    raise IntakeError("photo", "not a JPEG or PNG image")


def _reporter(value: object) -> Reporter | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise IntakeError("reporter", "must be an object {name, contact, id}")
    for key in value:
        if key not in REPORTER_FIELDS:
            raise IntakeError(f"reporter.{key}", f"unknown field; expected {', '.join(REPORTER_FIELDS)}")
    try:
        fields = {k: _text(value, k, MAX_SHORT, required=False) for k in REPORTER_FIELDS}
    except IntakeError as exc:
        raise IntakeError(f"reporter.{exc.field}", exc.message) from None
    if not any(fields.values()):
        return None
    return Reporter(name=fields["name"], contact=fields["contact"], reporter_ref=fields["id"])


def parse_payload(body: object, config: ComplaintsConfig, now_us: int, source: str = "api",
                  photo: tuple[str, bytes] | None = None) -> NewComplaint:
    """Turn a JSON object into a ``NewComplaint`` or raise ``IntakeError`` for the first bad field."""
    if not isinstance(body, dict):
        raise IntakeError("body", "expected a JSON object")
    for key in body:
        if key not in FIELDS:
            raise IntakeError(str(key)[:40], f"unknown field; expected {', '.join(FIELDS)}")
    external_id = _text(body, "external_id", MAX_ID)
    assert external_id is not None
    if not _ID.match(external_id):
        raise IntakeError("external_id", "use letters, digits and . _ : / - (starting with a letter or digit)")
    category = _text(body, "category", 40)
    assert category is not None
    category = " ".join(category.lower().split())
    settings = config.category(category)
    if settings is None:
        raise IntakeError("category", f"unknown category {category!r}; use one of {', '.join(config.category_names())}")
    text = _text(body, "text", config.max_text_chars)
    assert text is not None
    lat = _coordinate(body, "lat", 90)
    lon = _coordinate(body, "lon", 180)
    reported = _time(body.get("reported_at"), now_us)
    kelurahan = _text(body, "kelurahan", MAX_SHORT, required=False)
    reporter = _reporter(body.get("reporter"))
    picture = photo if photo is not None else _photo(body.get("photo"), config.max_photo_bytes)
    return NewComplaint(external_id=external_id, category=category, body=text, lat=lat, lon=lon,
                        reported_us=reported, agency=settings.agency, kelurahan=kelurahan, source=source,
                        reporter=reporter, photo=picture, received_us=now_us)


def parse_csv(text: str, config: ComplaintsConfig, now_us: int, base_dir: Path) -> tuple[list[NewComplaint],
                                                                                          list[str]]:
    """Every row of a CSV export (header row first) as complaints, and every problem as "line N: field: ...".

    ``photo`` is a JPEG or PNG file path, relative to ``base_dir``. Callers store nothing when there are problems.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    problems = [f"line 1: {name}: unknown column; expected {', '.join(CSV_COLUMNS)}"
                for name in header if name not in CSV_COLUMNS]
    for need in ("external_id", "category", "text", "lat", "lon", "reported_at"):
        if need not in header:
            problems.append(f"line 1: {need}: missing column")
    if problems:
        return [], problems
    found: list[NewComplaint] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        try:
            photo = None
            if row.get("photo"):
                path = (base_dir / row["photo"]).resolve()
                if not path.is_file():
                    raise IntakeError("photo", f"no such file {row['photo']!r}")
                photo = _image(path.read_bytes(), config.max_photo_bytes)
            reporter = {k: row.get(f"reporter_{k}") or None for k in REPORTER_FIELDS}
            body: dict[str, Any] = {k: row.get(k) or None for k in FIELDS if k not in ("reporter", "photo")}
            body["reporter"] = reporter if any(reporter.values()) else None
            complaint = parse_payload(body, config, now_us, source="csv", photo=photo)
        except IntakeError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        if complaint.external_id in seen:
            problems.append(f"line {line}: external_id: {complaint.external_id!r} is also on line "
                            f"{seen[complaint.external_id]}")
            continue
        seen[complaint.external_id] = line
        found.append(complaint)
    return found, problems
