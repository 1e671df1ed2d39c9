"""Wires everything together: the one place that defines start and stop order.

Start: plugins → config → storage root lock → catalog → first admin →
recovery → segment indexer → cameras (recorders) → web server → discovery → retention →
``startup`` hooks. Stop runs the same list backwards
(an ``AsyncExitStack``), so a failure half-way through start still stops what
already started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Callable

from aiohttp import web

from nvr.adoption import with_adopted
from nvr.analysis import AnalysisService
from nvr.camera_worker import RecordingContext
from nvr.cameras import CameraRegistry, ChangeSummary
from nvr.config import LoadedConfig, load_config
from nvr.discovery_service import DiscoveryService
from nvr.errors import ConfigError, PluginError
from nvr.export_service import ExportService
from nvr.indexer import SegmentIndexer
from nvr.nodes import NodeRecorder, join_catalog
from nvr.plugin_host import PluginHost
from nvr.retention_service import RetentionService
from nvr.runtime import Runtime
from nvr.storage.catalog import open_catalog
from nvr.storage.lock import lock_storage
from nvr.storage.recovery_startup import StartupRecovery, index_leftovers  # --- start-up recovery ---
from nvr.users import ensure_admin
from nvr.web.app import create_app

log = logging.getLogger(__name__)

STARTUP_HOOK_TIMEOUT_S = 10.0
SHUTDOWN_HOOK_TIMEOUT_S = 3.0
WEB_SHUTDOWN_TIMEOUT_S = 2.0
RESTART_ONLY_SECTIONS = ("server", "storage", "catalog", "log", "recording")


class Server:
    """A running nvr: ``async with Server(path) as server:`` starts it, leaving stops it."""

    def __init__(self, config_path: str | Path, plugins: PluginHost | None = None,
                 check_interval_s: float = 30.0, node: str | None = None):
        self.config_path = Path(config_path)
        self.node = node  # `nvr run --node NAME`: one node of a cluster (nvr.nodes)
        self.plugins = plugins or PluginHost()
        self.check_interval_s = check_interval_s
        self.runtime: Runtime | None = None
        self.initial_admin_password: str | None = None
        self.url = ""
        self._plugins_started = False
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Server:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        loaded = load_config(self.config_path, self.plugins.config_models())
        config = loaded.config
        config.storage.root.mkdir(parents=True, exist_ok=True)
        self._stack.enter_context(lock_storage(config.storage.root))  # one nvr per storage root
        catalog = await open_catalog(config.catalog_url)
        self._stack.push_async_callback(catalog.close)
        if self.node:  # --- scale-out: runs and segments carry this node's name, recovery sees only them ---
            await join_catalog(catalog, self.node)
        self._stack.push_async_callback(self.plugins.drain)
        self.initial_admin_password = await ensure_admin(catalog)
        loaded = await with_adopted(loaded, catalog)  # cameras adopted in the web UI join the config file's
        config = loaded.config
        runtime = self.runtime = Runtime(loaded=loaded, plugins=self.plugins, catalog=catalog)
        # --- start-up recovery (docs/design/storage.md): bounded now, before anything records; the full walk,
        # if due, in the background once serving; a clean-shutdown marker once recorders and indexer stopped.
        startup = runtime.extras["storage_recovery"] = StartupRecovery(catalog, config.storage.root, runtime.clock)
        await startup.recover()
        self._stack.push_async_exit(self._stop_recovery)
        # --- end start-up recovery ---

        indexer = runtime.indexer = SegmentIndexer(runtime, config.recording.index_queue)
        indexer.start()
        self._stack.push_async_callback(indexer.stop)  # after the cameras: their last segments drain
        recording = RecordingContext(config.storage.root, config.recording, indexer)
        runtime.cameras = CameraRegistry(runtime, self.check_interval_s, recording)
        self._stack.push_async_callback(runtime.cameras.stop_all)
        if self.node:  # --- scale-out: record the cameras whose leases this node holds ---
            node = runtime.extras["node"] = NodeRecorder(runtime, self.node)
            await node.start(config.cameras)
            self._stack.push_async_callback(node.stop)
        else:
            await runtime.cameras.apply(config.cameras)

        runtime.analysis = AnalysisService(runtime)
        # Plugins stop after analysis, so the events it ends at shutdown still reach them (event_ended).
        self._stack.push_async_callback(self._shutdown_hooks)
        self._stack.push_async_callback(runtime.analysis.stop)  # before the cameras stop: events end cleanly
        await runtime.analysis.start()  # a missing or unusable model stops start-up here

        # --- exports (docs/export.md): key loaded, unfinished jobs resumed; stops after the web server ---
        exports = runtime.extras["exports"] = ExportService(catalog, lambda: runtime.config, runtime.clock)
        await exports.start()
        self._stack.push_async_callback(exports.stop)
        # --- end exports ---

        runner = web.AppRunner(create_app(runtime), shutdown_timeout=WEB_SHUTDOWN_TIMEOUT_S,
                               access_log=None)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, config.server.host, config.server.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
        if self.node:
            await runtime.extras["node"].advertise(self.url)

        runtime.discovery = DiscoveryService(runtime)
        runtime.discovery.start()
        self._stack.push_async_callback(runtime.discovery.stop)

        runtime.retention = RetentionService(runtime)
        await runtime.retention.start()
        self._stack.push_async_callback(runtime.retention.stop)

        self._plugins_started = True
        await self.plugins.call("startup", timeout=STARTUP_HOOK_TIMEOUT_S, runtime=runtime)
        startup.start_background()  # --- start-up recovery: the full walk, if due ---
        log.info("nvr serving %s with %d camera(s)", self.url, len(config.cameras))

    # --- start-up recovery ---
    async def _stop_recovery(self, exc_type: object, exc: BaseException | None, tb: object) -> bool:
        """After the recorders and the indexer stopped: record a clean shutdown (or, after an error, none)."""
        assert self.runtime is not None
        startup: StartupRecovery = self.runtime.extras["storage_recovery"]
        await startup.stop(exc, index_leftovers(self.runtime.indexer))
        return False
    # --- end start-up recovery ---

    async def _shutdown_hooks(self) -> None:
        """The plugins' shutdown hook, if their startup hook ran; the hooks already fired reach them first."""
        if not self._plugins_started:
            return
        assert self.runtime is not None
        await self.plugins.drain()
        await self.plugins.call("shutdown", timeout=SHUTDOWN_HOOK_TIMEOUT_S, runtime=self.runtime)

    async def reload(self) -> ChangeSummary | ConfigError:
        """Re-read the config; apply camera changes, or keep the running config if invalid."""
        assert self.runtime is not None and self.runtime.cameras is not None
        try:
            loaded = await asyncio.to_thread(load_config, self.config_path, self.plugins.config_models(), True)
        except ConfigError as exc:
            log.error("config reload rejected, keeping the running config:\n%s", exc.report())
            return exc
        loaded = await with_adopted(loaded, self.runtime.catalog)
        old = self.runtime.config
        kept = {}
        for section in RESTART_ONLY_SECTIONS:
            if getattr(old, section) != getattr(loaded.config, section):
                log.warning("config [%s] changed: takes effect after a restart", section)
            kept[section] = getattr(old, section)  # what is running keeps running as it is
        loaded = LoadedConfig(loaded.config.model_copy(update=kept), loaded.plugin_configs, loaded.path)
        self.runtime.loaded = loaded
        if self.node:
            summary = await self.runtime.extras["node"].apply(loaded.config.cameras)
        else:
            summary = await self.runtime.cameras.apply(loaded.config.cameras)
        if self.runtime.analysis is not None:
            try:
                await self.runtime.analysis.apply(loaded.config.cameras)
            except PluginError as exc:
                log.error("analysis not reconfigured: %s", exc)
        if self.runtime.discovery is not None and old.discovery != loaded.config.discovery:
            self.runtime.discovery.reconfigure()
        if self.runtime.retention is not None and (
                old.retention != loaded.config.retention
                or [(c.name, c.record) for c in old.cameras] != [(c.name, c.record) for c in loaded.config.cameras]):
            self.runtime.retention.reconfigure()
        log.info("config reloaded")
        if self._plugins_started:  # plugins re-read what they keep from the config (their own files too)
            await self.plugins.call("config_reloaded", timeout=STARTUP_HOOK_TIMEOUT_S, runtime=self.runtime)
        return summary


async def serve(config_path: str | Path, announce: Callable[[str], None] = print,
                ready: Callable[[Server], None] | None = None, node: str | None = None) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads the config. Returns an exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloads: set[asyncio.Task] = set()
    async with Server(config_path, node=node) as server:
        if server.initial_admin_password:
            announce(f"Created the first admin user: admin / {server.initial_admin_password}\n"
                     "(shown once; set NVR_ADMIN_PASSWORD to choose it)")
        announce(f"nvr is running at {server.url}")

        def on_hup() -> None:
            task = loop.create_task(server.reload())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, on_hup)
        if ready is not None:
            ready(server)
        try:
            await stop.wait()
            log.info("stopping")
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
    return 0
