"""The ``[cluster]`` config table: lease timing, the internal API secret, and each node's capacity and pins."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nvr.secrets import Secret

__all__ = ["ClusterConfig", "NodeConfig"]


class NodeConfig(BaseModel):
    """``[cluster.nodes.NAME]``: one node of ``nvr run --node NAME``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity: int = Field(50, ge=0, le=100_000, title="Most cameras this node records (its balancing weight)")
    url: str | None = Field(None, title="Base URL other nodes fetch footage from (default: its web server's URL)")
    pinned: list[str] = Field(default_factory=list, title="Cameras recorded on this node whenever it is alive")


class ClusterConfig(BaseModel):
    """``[cluster]``: several nodes sharing one PostgreSQL catalog (docs/operations.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lease_ttl_s: float = Field(15, ge=2, le=600, title="A camera lease not renewed for this long may be taken over")
    renew_interval_s: float = Field(5, gt=0, le=300, title="How often a node renews its leases and rebalances")
    secret: Secret | None = Field(None, title="Shared secret of the internal node-to-node footage API")
    nodes: dict[str, NodeConfig] = Field(default_factory=dict, title="Per-node capacity, URL and pinned cameras")

    @model_validator(mode="after")
    def _check(self) -> ClusterConfig:
        if self.renew_interval_s * 2 > self.lease_ttl_s:
            raise ValueError("renew_interval_s must be at most half of lease_ttl_s (a lease survives a missed renewal)")
        seen: dict[str, str] = {}
        for name, node in self.nodes.items():
            for cam in node.pinned:
                if cam in seen:
                    raise ValueError(f"camera {cam!r} is pinned to both {seen[cam]!r} and {name!r}")
                seen[cam] = name
        return self

    def pins(self) -> dict[str, str]:
        """Camera -> the node it is pinned to."""
        return {cam: name for name, node in self.nodes.items() for cam in node.pinned}

    def node(self, name: str) -> NodeConfig:
        """The settings of node ``name`` (defaults when it has no table)."""
        return self.nodes.get(name) or NodeConfig()
