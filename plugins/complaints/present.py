"""A complaint as the API and the pages show it: SLA, links filtered to the user's cameras, no reporter by default."""

from __future__ import annotations

from typing import Any

from nvr.clock import now_us
from nvr.export_manifest import iso
from nvr.runtime import Runtime
from nvr.storage.complaints_catalog import CameraLink, Complaint, EventLink, Reporter

from .config import ComplaintsConfig
from .sla import Sla, sla_of
from .workflow import LABELS, next_statuses

__all__ = ["camera_json", "complaint_json", "event_json", "reporter_json", "sla_now", "sla_json"]


def sla_now(runtime: Runtime, config: ComplaintsConfig, complaint: Complaint) -> Sla:
    return sla_of(complaint.reported_us, complaint.responded_us, now_us(runtime.clock), config.response_days,
                  config.amber_days)


def sla_json(sla: Sla) -> dict[str, Any]:
    return {"colour": sla.colour, "due": iso(sla.due_us), "due_us": sla.due_us, "age_days": round(sla.age_days, 2)}


def complaint_json(complaint: Complaint, sla: Sla) -> dict[str, Any]:
    """The complaint's own fields (never the reporter)."""
    return {
        "id": complaint.id, "external_id": complaint.external_id, "category": complaint.category,
        "text": complaint.body, "lat": complaint.lat, "lon": complaint.lon,
        "reported_at": iso(complaint.reported_us), "reported_us": complaint.reported_us,
        "received_us": complaint.received_us, "status": complaint.status, "status_label": LABELS[complaint.status],
        "next_statuses": list(next_statuses(complaint.status)), "agency": complaint.agency,
        "kelurahan": complaint.kelurahan, "source": complaint.source, "linked_us": complaint.linked_us,
        "responded_us": complaint.responded_us, "closed_us": complaint.closed_us, "sla": sla_json(sla),
        "photo": f"/api/complaints/{complaint.id}/photo" if complaint.has_photo else None,
        "page": f"/complaints/{complaint.id}",
    }


def camera_json(link: CameraLink, segments: int | None = None) -> dict[str, Any]:
    return {
        "camera": link.camera, "rank": link.rank, "distance_m": link.distance_m, "bearing_deg": link.bearing_deg,
        "facing": link.facing, "start_us": link.start_us, "end_us": link.end_us, "hold_id": link.hold_id,
        "segments": segments,
        "play": f"/api/cameras/{link.camera}/play.mp4?start={link.start_us}&end={link.end_us}",
    }


def event_json(link: EventLink) -> dict[str, Any]:
    return {"id": link.event_id, "camera": link.camera, "kind": link.kind, "label": link.label,
            "start_us": link.start_us, "end_us": link.end_us, "hold_id": link.hold_id,
            "page": f"/events/{link.event_id}"}


def reporter_json(reporter: Reporter | None) -> dict[str, Any] | None:
    if reporter is None:
        return None
    return {"name": reporter.name, "contact": reporter.contact, "id": reporter.reporter_ref}
