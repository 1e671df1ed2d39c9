"""What happens to a complaint: received (stored, linked), re-linked, moved along the workflow; hooks fired for each."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from nvr.clock import now_us
from nvr.errors import CatalogError
from nvr.storage.complaints_catalog import Complaint, ComplaintFilter, NewComplaint

from .config import ComplaintsConfig
from .fragments import index_of
from .geo import haversine_m
from .linking import LINKER, LinkResult, category_of, hold_expiry, link_complaint
from .sla import OPEN_STATUSES
from .workflow import allowed_from, check_transition

if TYPE_CHECKING:
    from nvr.runtime import Runtime

__all__ = ["TransitionError", "config_of", "receive", "relink", "relink_open", "set_status"]

log = logging.getLogger(__name__)
RELINK_PAGE = 200


class TransitionError(ValueError):
    """A status change the workflow does not allow (HTTP 409, field ``status``)."""


def config_of(runtime: Runtime) -> ComplaintsConfig:
    cfg = runtime.plugin_config("complaints")
    return cfg if isinstance(cfg, ComplaintsConfig) else ComplaintsConfig()


def _index(runtime: Runtime, complaint: Complaint, cameras: list[str] = (), events: list[int] = ()) -> None:  # type: ignore[assignment]
    """Keep the camera and event pages' index current (no catalog query while a page renders)."""
    index = index_of(runtime)
    if index is not None:
        index.put(complaint, cameras, events)


def _notify(runtime: Runtime, hook: str, **kwargs: object) -> None:
    """Fire a hook without waiting for it (an integration pushing to the city app must not slow intake)."""
    runtime.plugins.notify(hook, runtime=runtime, **kwargs)


async def relink(runtime: Runtime, complaint: Complaint, actor: str = LINKER) -> LinkResult:
    """Link what is new near ``complaint`` (cameras added since, events ended since); fire ``complaint_linked``."""
    result = await link_complaint(runtime, config_of(runtime), complaint, actor)
    _index(runtime, result.complaint, [c.camera for c in result.cameras], result.events)
    if result.added:
        _notify(runtime, "complaint_linked", complaint=result.complaint, cameras=result.cameras,
                events=result.events)
    if result.complaint.status != complaint.status:
        _notify(runtime, "complaint_status_changed", complaint=result.complaint, old=complaint.status,
                new=result.complaint.status, actor=actor)
    return result


async def receive(runtime: Runtime, new: NewComplaint, actor: str) -> tuple[Complaint, bool]:
    """Store a complaint (idempotent on its external id) and link it; returns ``(complaint, created)``.

    A repeated external id returns the stored complaint untouched. Linking failures are logged: the complaint
    stays stored (``new``) and can be re-linked.
    """
    complaint, created = await runtime.catalog.add_complaint(new, actor)
    if not created:
        return complaint, False
    log.info("complaint %s received (%s, %s) by %s", complaint.id, complaint.category, complaint.external_id, actor)
    _notify(runtime, "complaint_received", complaint=complaint)
    try:
        complaint = (await relink(runtime, complaint)).complaint
    except CatalogError as exc:
        log.error("complaint %s: linking failed: %s", complaint.id, exc)
    return complaint, True


async def set_status(runtime: Runtime, complaint: Complaint, status: str, actor: str,
                     note: str | None = None) -> Complaint:
    """Move ``complaint`` to ``status`` (audited; closing starts the holds' countdown); fire the hook."""
    problem = check_transition(complaint.status, status)
    if problem is not None:
        raise TransitionError(f"status: {problem}")
    now = now_us(runtime.clock)
    expires = hold_expiry(config_of(runtime), now) if status == "closed" else None
    updated = await runtime.catalog.set_complaint_status(complaint.id, status, allowed_from(status), actor, note,
                                                         now, expires)
    log.info("complaint %s: %s -> %s by %s", complaint.id, complaint.status, status, actor)
    _index(runtime, updated)
    _notify(runtime, "complaint_status_changed", complaint=updated, old=complaint.status, new=status, actor=actor)
    return updated


async def relink_open(runtime: Runtime, reported_after_us: int | None = None,
                      reported_before_us: int | None = None, near: tuple[float, float] | None = None) -> int:
    """Re-link every complaint still open (optionally reported in a window, or within its category's radius of
    ``near``, a new camera's position); return how many gained links."""
    config = config_of(runtime)
    gained, offset = 0, 0
    while True:
        page = await runtime.catalog.list_complaints(ComplaintFilter(
            statuses=(*OPEN_STATUSES, "responded"), reported_after_us=reported_after_us,
            reported_before_us=reported_before_us, limit=RELINK_PAGE, offset=offset))
        for complaint in page:
            if near is not None and haversine_m(*near, complaint.lat, complaint.lon) > \
                    category_of(config, complaint.category).radius_m:
                continue  # too far from the new camera to gain anything
            try:
                gained += (await relink(runtime, complaint)).added
            except CatalogError as exc:
                log.error("complaint %s: re-linking failed: %s", complaint.id, exc)
        if len(page) < RELINK_PAGE:
            return gained
        offset += RELINK_PAGE
