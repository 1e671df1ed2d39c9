"""The catalog's export-job and audit-log methods (migration 0004)."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = ["EXPORT_STATES", "AuditEntry", "ExportJob", "ExportJobState", "ExportsCatalog", "NewExportJob"]

ExportJobState = Literal["queued", "running", "done", "failed"]
EXPORT_STATES: Final[tuple[str, ...]] = ("queued", "running", "done", "failed")


@dataclass(frozen=True, slots=True)
class NewExportJob:
    """What a caller asks for; times are UTC µs, ``[start_us, end_us)``."""

    cameras: tuple[str, ...]
    start_us: int
    end_us: int
    case: str
    reason: str
    created_by: str
    output_path: str
    hold: bool = False


@dataclass(frozen=True, slots=True)
class ExportJob:
    """A persistent export job and its progress (``bytes_done`` of ``bytes_total`` source bytes)."""

    id: int
    state: ExportJobState
    cameras: tuple[str, ...]
    start_us: int
    end_us: int
    case: str
    reason: str
    created_by: str
    created_at: int
    updated_at: int
    output_path: str
    hold: bool = False
    hold_ids: tuple[int, ...] = ()
    started_at: int | None = None
    finished_at: int | None = None
    bytes_total: int = 0
    bytes_done: int = 0
    attempts: int = 0
    owner: str | None = None
    heartbeat_at: int | None = None
    error: str | None = None
    result: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def finished(self) -> bool:
        """True once the job is ``done`` or ``failed``."""
        return self.state in ("done", "failed")

    @property
    def percent(self) -> float:
        """Progress in percent (100 when done)."""
        if self.state == "done":
            return 100.0
        return 0.0 if self.bytes_total <= 0 else min(100.0, 100.0 * self.bytes_done / self.bytes_total)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log: ``actor`` did ``action`` to ``target`` at ``at`` (UTC µs)."""

    id: int
    at: int
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]


class ExportsCatalog(abc.ABC):
    """Export jobs and the audit log; every method does its I/O off the event loop."""

    @abc.abstractmethod
    async def create_export_job(self, new: NewExportJob) -> ExportJob:
        """Insert a ``queued`` job; an empty camera list, case or reason, or ``end <= start`` raises ``CatalogError``.

        ``{id}`` in ``output_path`` is replaced by the new job's id.
        """

    @abc.abstractmethod
    async def get_export_job(self, job_id: int) -> ExportJob | None:
        """The job with this id, or None."""

    @abc.abstractmethod
    async def list_export_jobs(self, limit: int = 100, before_id: int | None = None) -> list[ExportJob]:
        """Jobs newest first; ``before_id`` pages on (only smaller ids)."""

    @abc.abstractmethod
    async def claimable_export_jobs(self, stale_us: int) -> list[int]:
        """Ids of jobs to run: ``queued`` ones, and ``running`` ones whose heartbeat is older than ``stale_us``.

        Oldest first. A running job with a stale heartbeat lost its process (a
        crash, a kill): whoever claims it starts it again.
        """

    @abc.abstractmethod
    async def claim_export_job(self, job_id: int, owner: str, stale_us: int) -> ExportJob | None:
        """Make ``owner`` the runner of a claimable job (see ``claimable_export_jobs``), atomically.

        Sets ``running``, the heartbeat and ``started_at``, counts the attempt
        and clears the progress; returns the job, or None if it was not
        claimable (someone else holds it, or it finished).
        """

    @abc.abstractmethod
    async def update_export_progress(self, job_id: int, owner: str, bytes_done: int, bytes_total: int) -> bool:
        """Record progress and a heartbeat; False (nothing written) unless ``owner`` still runs the job."""

    @abc.abstractmethod
    async def release_export_job(self, job_id: int, owner: str) -> bool:
        """Give a running job back (``queued``, no owner) so the next service resumes it; False if not ``owner``'s."""

    @abc.abstractmethod
    async def set_export_holds(self, job_id: int, hold_ids: list[int]) -> None:
        """Remember the holds taken for the job (released by hand, ``nvr storage hold release``)."""

    @abc.abstractmethod
    async def finish_export_job(self, job_id: int, owner: str | None, state: Literal["done", "failed"],
                                error: str | None = None, result: dict[str, Any] | None = None) -> ExportJob | None:
        """End the job as ``done`` or ``failed``; None (nothing written) if ``owner`` does not run it.

        ``owner`` None ends a job whoever holds it (used for jobs that fail validation before running).
        """

    @abc.abstractmethod
    async def audit(self, actor: str, action: str, target: str | None = None,
                    detail: dict[str, Any] | None = None) -> int:
        """Append to the audit log (stamped with the catalog's clock); return the entry id."""

    @abc.abstractmethod
    async def audit_entries(self, limit: int = 100, before_id: int | None = None, action: str | None = None,
                            target: str | None = None) -> list[AuditEntry]:
        """Audit entries newest first, optionally of one action or target; ``before_id`` pages on."""
