"""The catalog's view of recorder nodes: who holds which footage, and where each node answers."""

from __future__ import annotations

import abc
from dataclasses import dataclass

__all__ = ["NodeInfo", "NodesCatalog"]


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One node that joined the cluster (``nvr run --node NAME``); times are catalog-server UTC µs."""

    name: str
    url: str | None
    capacity: int
    started_at: int
    heartbeat_at: int
    stopped_at: int | None
    cameras: int
    """Cameras whose lease it holds now."""


class NodesCatalog(abc.ABC):
    """Read side of nodes and leases (the lease protocol itself is PostgreSQL's: nvr.leases)."""

    @abc.abstractmethod
    async def segment_nodes(self, segment_ids: list[int]) -> dict[int, str | None]:
        """Segment id -> the node whose disk holds its file (None: a single server). Unknown ids are left out."""

    @abc.abstractmethod
    async def list_nodes(self) -> list[NodeInfo]:
        """Every node that ever joined, by name."""

    @abc.abstractmethod
    async def camera_holders(self) -> dict[str, tuple[str | None, int]]:
        """Camera name -> (node holding its lease or None, lease generation), for cameras with a lease row."""
