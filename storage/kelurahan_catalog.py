"""The catalog's kelurahan-plugin records: share links, escalations to agencies, webhook deliveries."""

from __future__ import annotations

import abc
from dataclasses import dataclass

__all__ = ["Delivery", "Escalation", "KelurahanCatalog", "NewShare", "Share"]


@dataclass(frozen=True, slots=True)
class NewShare:
    """A share link to be created: a camera's live view (``kind`` "live") or one clip of it ("clip")."""

    camera: str
    kind: str
    created_by: str
    expires_at: int
    start_us: int | None = None
    end_us: int | None = None
    label: str = ""


@dataclass(frozen=True, slots=True)
class Share:
    """A share link's record; times in UTC µs."""

    id: int
    camera: str
    kind: str
    start_us: int | None
    end_us: int | None
    label: str
    created_by: str
    created_at: int
    expires_at: int
    revoked_at: int | None
    revoked_by: str | None
    uses: int
    last_used_at: int | None

    def live(self, now_us: int) -> bool:
        """Neither revoked nor expired."""
        return self.revoked_at is None and now_us < self.expires_at


@dataclass(frozen=True, slots=True)
class Escalation:
    """An event handed to an agency (OPD)."""

    id: int
    event_id: int
    agency: str
    note: str | None
    escalated_by: str
    escalated_at: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification to one webhook and how its delivery went."""

    id: int
    webhook: str
    kind: str
    event_id: int | None
    payload: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: int
    updated_at: int
    delivered_at: int | None


class KelurahanCatalog(abc.ABC):
    """Storage of the kelurahan plugin; times in UTC µs."""

    @abc.abstractmethod
    async def create_share(self, share: NewShare) -> Share:
        """Store a share link; a clip without a valid range or an unknown kind raises ``CatalogError``."""

    @abc.abstractmethod
    async def get_share(self, share_id: int) -> Share | None:
        """One share link, or None."""

    @abc.abstractmethod
    async def list_shares(self, cameras: tuple[str, ...] | None = None, limit: int = 200) -> list[Share]:
        """Share links newest first, of ``cameras`` only when given."""

    @abc.abstractmethod
    async def revoke_share(self, share_id: int, by: str, now_us: int) -> Share:
        """Revoke a share link (idempotent); an unknown id raises ``CatalogError``."""

    @abc.abstractmethod
    async def record_share_use(self, share_id: int, now_us: int) -> None:
        """Count one use of a share link."""

    @abc.abstractmethod
    async def add_escalation(self, event_id: int, agency: str, note: str | None, by: str, now_us: int) -> Escalation:
        """Record that an event was escalated to ``agency``; an unknown event raises ``CatalogError``."""

    @abc.abstractmethod
    async def escalations(self, event_ids: tuple[int, ...]) -> list[Escalation]:
        """Escalations of these events, oldest first."""

    @abc.abstractmethod
    async def add_delivery(self, webhook: str, kind: str, event_id: int | None, payload: str) -> Delivery:
        """Log a notification about to be delivered (state ``pending``)."""

    @abc.abstractmethod
    async def update_delivery(self, delivery_id: int, state: str, attempts: int, status: int | None,
                              error: str | None) -> Delivery:
        """Record a delivery attempt's outcome (``state`` pending, delivered or failed)."""

    @abc.abstractmethod
    async def pending_deliveries(self, limit: int = 1000) -> list[Delivery]:
        """Deliveries still ``pending`` (a server stopped while trying), oldest first."""

    @abc.abstractmethod
    async def event_deliveries(self, event_id: int, kind: str = "event") -> list[Delivery]:
        """Deliveries (any state) of one event's notifications of ``kind``, oldest first."""

    @abc.abstractmethod
    async def list_deliveries(self, webhook: str | None = None, limit: int = 100) -> list[Delivery]:
        """Deliveries newest first, of one webhook when given."""
