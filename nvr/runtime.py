"""The running server's shared state, handed to plugins and web handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from nvr.clock import Clock, SystemClock
from nvr.config import Config, LoadedConfig
from nvr.plugin_host import PluginHost

if TYPE_CHECKING:
    from nvr.analysis import AnalysisService
    from nvr.cameras import CameraRegistry
    from nvr.discovery_service import DiscoveryService
    from nvr.indexer import SegmentIndexer
    from nvr.retention_service import RetentionService
    from nvr.storage.catalog import Catalog


@dataclass
class Runtime:
    """References to the long-lived parts; owns none of their lifecycles (``nvr.app`` does)."""

    loaded: LoadedConfig
    plugins: PluginHost
    catalog: Catalog
    clock: Clock = field(default_factory=SystemClock)
    cameras: CameraRegistry | None = None
    discovery: DiscoveryService | None = None
    indexer: SegmentIndexer | None = None
    retention: RetentionService | None = None
    analysis: AnalysisService | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> Config:
        return self.loaded.config

    def plugin_config(self, name: str) -> BaseModel | None:
        """The validated ``[plugins.<name>]`` table, or None if no plugin declares it."""
        return self.loaded.plugin_configs.get(name)
