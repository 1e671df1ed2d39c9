"""The catalog's view of recorder nodes: who holds which footage, and where each node answers."""

from __future__ import annotations

import abc
from dataclasses import dataclass

__all__ = ["ClusterState", "LeaseInfo", "NodeInfo", "NodesCatalog", "node_is_live"]


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


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """One camera's lease row (``camera_leases``); ``expires_at`` is catalog-server UTC µs (0: released)."""

    camera: str
    node: str | None
    """The holder; None: free."""
    generation: int
    expires_at: int
    pinned_node: str | None


@dataclass(frozen=True, slots=True)
class ClusterState:
    """Nodes and leases as the catalog has them, with the catalog server's clock read at the same time."""

    now_us: int
    """The catalog server's clock (the one heartbeats and leases are stamped with), read after the rows."""
    nodes: list[NodeInfo]
    leases: list[LeaseInfo]


def node_is_live(node: NodeInfo, now_us: int, ttl_us: int) -> bool:
    """The lease protocol's rule for a live node (``LeaseStore.cycle``: ``stopped_at IS NULL AND heartbeat_at >
    now - ttl``): it has not stopped cleanly and its heartbeat is younger than the lease TTL."""
    return node.stopped_at is None and node.heartbeat_at > now_us - ttl_us


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

    @abc.abstractmethod
    async def cluster_state(self) -> ClusterState:
        """Every node, every lease row (by camera name) and the catalog server's clock, for the cluster view
        (``/api/nodes``). Cheap: two small tables, no segment is read. A single server: no nodes, no leases."""
