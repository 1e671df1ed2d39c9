"""What an export will copy: request validation, per-camera segments, gaps, and clips split at codec changes."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from nvr.clock import from_utc_us, utc_us
from nvr.errors import NvrError
from nvr.export_boxes import MediaError
from nvr.export_source import read_init
from nvr.models import Segment
from nvr.storage.catalog import Catalog

__all__ = [
    "CameraPlan",
    "ClipPlan",
    "ExportInputError",
    "ExportRequest",
    "check_text",
    "clip_name",
    "parse_time",
    "plan_camera",
    "validate_request",
]

MAX_CASE = 100
MAX_REASON = 1000
MAX_CAMERAS = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


class ExportInputError(NvrError):
    """A request the exporter refuses; ``field`` names the offending input, ``status`` the HTTP status to answer."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        self.field = field
        self.status = status
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """A validated request: cameras and ``[start_us, end_us)`` in UTC µs, case number and reason."""

    cameras: tuple[str, ...]
    start_us: int
    end_us: int
    case: str
    reason: str
    hold: bool = False


def parse_time(value: object, name: str) -> int:
    """UTC µs from an ISO 8601 time with a zone (``...Z``, ``+07:00``) or an integer of UTC µs."""
    if isinstance(value, bool) or value is None or value == "":
        raise ExportInputError(name, "missing; give an ISO 8601 time with a zone or UTC microseconds")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise ExportInputError(name, f"not a time: {value!r}")
    text = value.strip()
    if re.fullmatch(r"-?\d{1,19}", text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ExportInputError(name, f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise ExportInputError(name, f"{value!r} has no time zone; add Z or an offset such as +07:00")
    return utc_us(parsed)


def check_text(value: object, name: str, limit: int) -> str:
    """A non-empty single-line text of at most ``limit`` characters, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise ExportInputError(name, "required")
    text = unicodedata.normalize("NFC", value.strip())
    if len(text) > limit:
        raise ExportInputError(name, f"at most {limit} characters")
    if _CONTROL.search(text):
        raise ExportInputError(name, "must not contain control characters or line breaks")
    return text


def validate_request(cameras: object, start: object, end: object, case: object, reason: object,
                     hold: object = False, *, known: Iterable[str], max_range_us: int) -> ExportRequest:
    """Check every field of an export request; ``known`` are the camera names the caller may export."""
    if isinstance(cameras, str):
        cameras = [cameras]
    if not isinstance(cameras, list | tuple) or not cameras:
        raise ExportInputError("cameras", "give a list of one or more camera names")
    if len(cameras) > MAX_CAMERAS:
        raise ExportInputError("cameras", f"at most {MAX_CAMERAS} cameras per export")
    allowed = set(known)
    names: list[str] = []
    for name in cameras:
        if not isinstance(name, str) or name not in allowed:
            raise ExportInputError("cameras", f"no camera named {name!r}")
        if name not in names:
            names.append(name)
    start_us, end_us = parse_time(start, "start"), parse_time(end, "end")
    if end_us <= start_us:
        raise ExportInputError("end", "must be after start")
    if end_us - start_us > max_range_us:
        raise ExportInputError("end", f"the range is longer than the configured maximum of "
                                      f"{max_range_us / 3_600_000_000:g} h ([export] max_range_hours)")
    if not isinstance(hold, bool):
        raise ExportInputError("hold", "use true or false")
    return ExportRequest(tuple(names), start_us, end_us, check_text(case, "case", MAX_CASE),
                         check_text(reason, "reason", MAX_REASON), hold)


@dataclass(slots=True)
class ClipPlan:
    """Segments copied into one output file (same codec parameters throughout) and the wall range to cut."""

    camera: str
    index: int
    segments: list[Segment]
    start_us: int
    end_us: int
    name: str = ""

    @property
    def source_bytes(self) -> int:
        return sum(s.size_bytes for s in self.segments)


@dataclass(slots=True)
class CameraPlan:
    """One camera's part of an export: its segments, the gaps in the range, and the clips to write."""

    camera: str
    start_us: int
    end_us: int
    segments: list[Segment]
    gaps: list[tuple[int, int]]
    clips: list[ClipPlan] = field(default_factory=list)

    @property
    def source_bytes(self) -> int:
        return sum(s.size_bytes for s in self.segments)


def clip_name(camera: str, start_us: int, taken: set[str]) -> str:
    """``<camera>-<YYYYmmddTHHMMSSZ>.mp4``, made safe for any file system and unique within ``taken``."""
    safe = _UNSAFE_NAME.sub("_", camera).strip("._") or "camera"
    stamp = from_utc_us(start_us).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name, n = f"{safe}-{stamp}.mp4", 2
    while name in taken:
        name, n = f"{safe}-{stamp}-{n}.mp4", n + 1
    taken.add(name)
    return name


async def plan_camera(catalog: Catalog, root: Path, camera: str, start_us: int, end_us: int,
                      taken: set[str] | None = None) -> CameraPlan:
    """Find the camera's footage in ``[start_us, end_us)`` and split it into clips where codec parameters change.

    Raises ``ExportInputError`` (field ``cameras``, 404-worthy as 422) when the
    camera has no footage in the range, ``MediaError`` when a file cannot be read.
    """
    segments = await catalog.segments(camera, start_us, end_us)
    if not segments:
        raise ExportInputError("cameras", f"camera {camera!r} has no footage between "
                                          f"{from_utc_us(start_us).isoformat()} and {from_utc_us(end_us).isoformat()}",
                               status=422)
    gaps = await catalog.gaps(camera, start_us, end_us)
    inits = await asyncio.to_thread(_signatures, root, segments)
    plan = CameraPlan(camera, start_us, end_us, segments, gaps)
    taken = set() if taken is None else taken
    group: list[Segment] = []
    group_signature: tuple = ()
    for segment, signature in zip(segments, inits, strict=True):
        if group and signature != group_signature:
            plan.clips.append(_clip(camera, len(plan.clips), group, start_us, end_us, taken))
            group = []
        group.append(segment)
        group_signature = signature
    plan.clips.append(_clip(camera, len(plan.clips), group, start_us, end_us, taken))
    return plan


def _clip(camera: str, index: int, group: Sequence[Segment], start_us: int, end_us: int, taken: set[str]) -> ClipPlan:
    start = max(start_us, group[0].start_time)
    return ClipPlan(camera, index, list(group), start, min(end_us, group[-1].end_time), clip_name(camera, start, taken))


def _signatures(root: Path, segments: Sequence[Segment]) -> list[tuple]:
    out = []
    for segment in segments:
        try:
            out.append(read_init(root / segment.path).signature)
        except OSError as exc:
            raise MediaError(f"cannot read segment {segment.path}: {exc.strerror or exc}") from exc
    return out
