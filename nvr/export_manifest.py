"""The bundle's ``manifest.json``: what was asked, what was copied from which sources, gaps, and file hashes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nvr import __version__
from nvr.clock import from_utc_us
from nvr.export_clip import ClipResult
from nvr.export_plan import CameraPlan, ClipPlan
from nvr.models import Segment
from nvr.storage.exports_catalog import ExportJob

__all__ = ["FORMAT", "MANIFEST", "PUBLIC_KEY", "SIGNATURE", "CameraInfo", "camera_entry", "clip_entry",
           "encode", "manifest"]

FORMAT = "nvr-evidence-export/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
PUBLIC_KEY = "public-key.pem"
CLIPS_DIR = "clips/"


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """Descriptive camera fields copied into the manifest."""

    title: str | None = None
    kelurahan: str | None = None
    kecamatan: str | None = None


def iso(us: int) -> str:
    """UTC ISO 8601 with microseconds and a Z."""
    return from_utc_us(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _span(start: int, end: int) -> dict[str, Any]:
    return {"start": iso(start), "end": iso(end), "start_us": start, "end_us": end}


def _source(s: Segment) -> dict[str, Any]:
    return {"id": s.id, "path": s.path, **_span(s.start_time, s.end_time), "media_seconds": s.duration_s,
            "size_bytes": s.size_bytes, "sha256": s.sha256, "frames": s.frames, "codec": s.codec,
            "width": s.width, "height": s.height}


def clip_entry(clip: ClipPlan, result: ClipResult, size: int, sha256: str) -> dict[str, Any]:
    """One output file: where it is in the bundle, its hash, the footage it shows and its sources."""
    first = clip.segments[0]
    return {
        "file": CLIPS_DIR + clip.name, "sha256": sha256, "size_bytes": size,
        **_span(result.start_us, result.end_us), "duration_seconds": round(result.duration_s, 6),
        "frames": result.frames, "preroll_frames": result.preroll_frames,
        "codec": first.codec, "width": first.width, "height": first.height,
        "sources": [segment_id for segment_id, _, _ in result.verified],
        "segment_starts": [{"segment": sid, "at_seconds": round(at, 6), "start_us": wall}
                           for sid, wall, at in result.boundaries],
    }


def camera_entry(plan: CameraPlan, info: CameraInfo, clips: list[dict[str, Any]]) -> dict[str, Any]:
    """A camera's part of the manifest; each gap says in which clip, and at which second, footage resumes."""
    gaps = []
    for start, end in plan.gaps:
        where = _locate(clips, end)
        gaps.append({**_span(start, end), "seconds": (end - start) / 1e6, **where})
    pairs = zip(plan.segments, plan.segments[1:], strict=False)
    overlaps = [_span(b.start_time, a.end_time) for a, b in pairs if b.start_time < a.end_time]
    footage = sum(c["duration_seconds"] for c in clips)
    return {
        "name": plan.camera, "title": info.title, "kelurahan": info.kelurahan, "kecamatan": info.kecamatan,
        "actual": _span(clips[0]["start_us"], clips[-1]["end_us"]),
        "footage_seconds": round(footage, 6), "gap_seconds": sum(g["seconds"] for g in gaps),
        "gaps": gaps, "overlaps": overlaps, "clips": clips, "sources": [_source(s) for s in plan.segments],
    }


def _locate(clips: list[dict[str, Any]], resume_us: int) -> dict[str, Any]:
    for clip in clips:
        for start in clip["segment_starts"]:
            if start["start_us"] >= resume_us:
                return {"clip": clip["file"], "at_seconds": start["at_seconds"]}
    return {"clip": clips[-1]["file"], "at_seconds": clips[-1]["duration_seconds"]}


def manifest(job: ExportJob, cameras: list[dict[str, Any]], files: list[dict[str, Any]], fingerprint: str,
             finished_us: int) -> dict[str, Any]:
    """The whole manifest; ``files`` lists every bundle member except the manifest and its signature."""
    return {
        "format": FORMAT,
        "export": {"job_id": job.id, "case": job.case, "reason": job.reason, "requested_by": job.created_by,
                   "requested_at": iso(job.created_at), "created_at": iso(finished_us), "attempts": job.attempts,
                   "holds": list(job.hold_ids)},
        "software": {"name": "nvr", "version": __version__},
        "signing_key": {"algorithm": "Ed25519", "fingerprint": fingerprint, "file": PUBLIC_KEY,
                        "signature_file": SIGNATURE},
        "requested": _span(job.start_us, job.end_us),
        "cameras": cameras,
        "files": files,
    }


def encode(document: dict[str, Any]) -> bytes:
    """The exact bytes that are signed."""
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
