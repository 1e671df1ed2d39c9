"""Open complaints on the camera and event pages (``web_fragment``), from an in-memory index kept current."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from markupsafe import Markup

from nvr.clock import now_us
from nvr.storage.complaints_catalog import Complaint, ComplaintFilter

from .sla import OPEN_STATUSES, sla_of

if TYPE_CHECKING:
    from nvr.models import User
    from nvr.runtime import Runtime

__all__ = ["INDEX_KEY", "ComplaintIndex", "index_of", "load_index", "render"]

log = logging.getLogger(__name__)

INDEX_KEY = "complaints.index"
"""``runtime.extras``: the ``ComplaintIndex`` (page renders are synchronous: no catalog query there)."""
PAGE = 500
SHOWN = 10


@dataclass
class ComplaintIndex:
    """Complaints not closed, by linked camera and by linked event."""

    complaints: dict[int, Complaint] = field(default_factory=dict)
    by_camera: dict[str, set[int]] = field(default_factory=dict)
    by_event: dict[int, set[int]] = field(default_factory=dict)

    def put(self, complaint: Complaint, cameras: list[str] = (), events: list[int] = ()) -> None:  # type: ignore[assignment]
        """Record (or update) a complaint and more of its links; a closed one leaves the index."""
        if complaint.status == "closed":
            self.drop(complaint.id)
            return
        self.complaints[complaint.id] = complaint
        for name in cameras:
            self.by_camera.setdefault(name, set()).add(complaint.id)
        for event_id in events:
            self.by_event.setdefault(event_id, set()).add(complaint.id)

    def drop(self, complaint_id: int) -> None:
        self.complaints.pop(complaint_id, None)
        for ids in (*self.by_camera.values(), *self.by_event.values()):
            ids.discard(complaint_id)

    def of_camera(self, name: str) -> list[Complaint]:
        return self._sorted(self.by_camera.get(name, ()))

    def of_event(self, event_id: int) -> list[Complaint]:
        return self._sorted(self.by_event.get(event_id, ()))

    def _sorted(self, ids: object) -> list[Complaint]:
        found = [self.complaints[i] for i in ids if i in self.complaints]  # type: ignore[attr-defined]
        return sorted(found, key=lambda c: (c.reported_us, c.id), reverse=True)


def index_of(runtime: Runtime) -> ComplaintIndex | None:
    return runtime.extras.get(INDEX_KEY)


async def load_index(runtime: Runtime) -> None:
    """Build the index from the catalog (at start-up, in the background); later changes update it as they happen."""
    index = runtime.extras.setdefault(INDEX_KEY, ComplaintIndex())
    offset = 0
    while True:
        page = await runtime.catalog.list_complaints(ComplaintFilter(statuses=(*OPEN_STATUSES, "responded"),
                                                                     limit=PAGE, offset=offset))
        for complaint in page:
            cameras = [c.camera for c in await runtime.catalog.complaint_cameras(complaint.id)]
            events = [e.event_id for e in await runtime.catalog.complaint_events(complaint.id)]
            index.put(complaint, cameras, events)
        if len(page) < PAGE:
            break
        offset += PAGE
    log.debug("complaints: %d open complaint(s) indexed", len(index.complaints))


def render(runtime: Runtime, user: User, complaints: list[Complaint], response_days: float, amber_days: float,
           visible: set[str] | None) -> str | None:
    """A short list of the complaints the user may see (``visible`` kelurahans; None = all), or None."""
    shown = [c for c in complaints if visible is None or c.kelurahan in visible]
    if not shown:
        return None
    now = now_us(runtime.clock)
    colours = {"green": "ok", "amber": "wait", "red": "bad", "met": "ok", "late": "bad"}
    items = []
    for c in shown[:SHOWN]:
        colour = sla_of(c.reported_us, c.responded_us, now, response_days, amber_days).colour
        items.append(Markup('<li><span class="state {}">{}</span> <a href="/complaints/{}">#{} {}</a> {}</li>').format(
            colours[colour], colour, c.id, c.id, c.category, c.external_id))
    more = Markup(" <small>and {} more</small>").format(len(shown) - SHOWN) if len(shown) > SHOWN else ""
    return str(Markup('<div class="complaints-fragment"><h2>Open complaints</h2><ul>{}</ul>{}</div>').format(
        Markup("").join(items), more))

