"""The plugin host: one pluggy PluginManager per app, with isolated hook calls."""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import inspect
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import pluggy
from pydantic import BaseModel

from nvr import hookspecs
from nvr.errors import PluginError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "nvr"

DEFAULT_PLUGINS: tuple[str, ...] = ("nvr.plugins.camera_log", "nvr.plugins.detect_openvino", "nvr.plugins.web_core",
                                   "nvr.plugins.lpr", "nvr.plugins.kelurahan", "nvr.plugins.mqtt",
                                   "nvr.plugins.complaints")
"""Built-in plugins, registered exactly like third-party ones."""


def hook_names() -> list[str]:
    """Names of every hook declared in ``nvr.hookspecs``."""
    return sorted(
        name for name, obj in vars(hookspecs).items() if hasattr(obj, "nvr_spec")
    )


async def await_me_maybe(value: Any) -> Any:
    """Await ``value`` if it is awaitable, else return it as is."""
    if inspect.isawaitable(value):
        return await value
    return value


@dataclass
class PluginStatus:
    """What the UI shows about one plugin: calls, failures, the last error."""

    name: str
    source: str
    calls: int = 0
    errors: int = 0
    last_error: str | None = None
    last_error_hook: str | None = None
    last_error_at: float | None = None
    load_error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.load_error is None and self.last_error is None


@dataclass
class PluginHost:
    """Registers built-ins, then entry points, then extras; calls hooks in isolation."""

    load_entry_points: bool = True
    extra_plugins: Iterable[tuple[str, object]] = ()
    pm: pluggy.PluginManager = field(init=False)
    status: dict[str, PluginStatus] = field(init=False, default_factory=dict)
    _background: set[asyncio.Task] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.pm = pluggy.PluginManager("nvr")
        self.pm.add_hookspecs(hookspecs)
        for module_name in DEFAULT_PLUGINS:
            self._register(importlib.import_module(module_name), module_name.rsplit(".", 1)[-1], "builtin")
        if self.load_entry_points:
            self._load_entry_points()
        for name, plugin in self.extra_plugins:
            self._register(plugin, name, "extra")
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {exc.plugin!r}: {exc}") from None

    def _register(self, plugin: object, name: str, source: str) -> None:
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name!r} ({source}): {exc}") from None
        for impl in self._impls_of(plugin):
            if impl.hookwrapper or impl.wrapper:
                raise PluginError(f"plugin {name!r}: hook wrappers are not supported")
        self.status[name] = PluginStatus(name=name, source=source)

    def _impls_of(self, plugin: object) -> list[Any]:
        callers = self.pm.get_hookcallers(plugin) or []
        return [i for caller in callers for i in caller.get_hookimpls() if i.plugin is plugin]

    def _load_entry_points(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in self.status:
                log.warning("entry point %s ignored: a plugin named %r is already registered", ep.value, ep.name)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken third-party package must not stop nvr
                log.error("plugin %s failed to load from %s: %s", ep.name, ep.value, exc)
                self.status[ep.name] = PluginStatus(
                    name=ep.name, source=f"entry point {ep.value}", load_error=f"{type(exc).__name__}: {exc}"
                )
                continue
            self._register(plugin, ep.name, f"entry point {ep.value}")

    def plugin_names(self) -> list[str]:
        return sorted(name for name, st in self.status.items() if st.load_error is None)

    def config_models(self) -> dict[str, type[BaseModel]]:
        """Merge every plugin's ``config_models`` result; a table claimed twice is an error."""
        merged: dict[str, type[BaseModel]] = {}
        owners: dict[str, str] = {}
        for plugin_name, result in self.call_sync("config_models"):
            for table, model in (result or {}).items():
                if table in merged:
                    raise PluginError(
                        f"[plugins.{table}] is claimed by both {owners[table]!r} and {plugin_name!r}"
                    )
                merged[table], owners[table] = model, plugin_name
        return merged

    def _ordered_impls(self, hook_name: str) -> list[Any]:
        caller = getattr(self.pm.hook, hook_name)
        return list(reversed(caller.get_hookimpls()))  # pluggy's call order

    def _record_error(self, plugin_name: str, hook_name: str, exc: BaseException) -> None:
        st = self.status.setdefault(plugin_name, PluginStatus(plugin_name, "unknown"))
        st.errors += 1
        st.last_error = f"{type(exc).__name__}: {exc}"
        st.last_error_hook = hook_name
        st.last_error_at = time.time()
        log.error("plugin %s failed in hook %s: %s", plugin_name, hook_name, st.last_error, exc_info=exc)

    def report_error(self, plugin_name: str, where: str, exc: BaseException) -> None:
        """Record a failure of a plugin's own background work (logged, counted, shown with its health)."""
        self._record_error(plugin_name, where, exc)

    def implements(self, hook_name: str) -> bool:
        """Whether any registered plugin implements ``hook_name`` (lets hot paths skip the call)."""
        return bool(self._ordered_impls(hook_name))

    def call_sync(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook whose implementations must be synchronous; isolate failures."""
        results = []
        for impl in self._ordered_impls(hook_name):
            self.status[impl.plugin_name].calls += 1
            try:
                value = impl.function(*[kwargs[a] for a in impl.argnames])
                if inspect.isawaitable(value):
                    if inspect.iscoroutine(value):
                        value.close()
                    raise PluginError(f"hook {hook_name} must not be async")
            except Exception as exc:
                self._record_error(impl.plugin_name, hook_name, exc)
                continue
            results.append((impl.plugin_name, value))
        return results

    async def call(self, hook_name: str, timeout: float | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation in pluggy's order, awaiting results.

        Returns ``(plugin name, result)`` for each implementation that did not
        fail. One that raises or exceeds ``timeout`` is logged and counted.
        """
        results = []
        for impl in self._ordered_impls(hook_name):
            self.status[impl.plugin_name].calls += 1
            try:
                value = impl.function(*[kwargs[a] for a in impl.argnames])
                if inspect.isawaitable(value):
                    value = await asyncio.wait_for(value, timeout) if timeout else await value
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, TimeoutError):
                    exc = TimeoutError(f"did not finish within {timeout} s")
                self._record_error(impl.plugin_name, hook_name, exc)
                continue
            results.append((impl.plugin_name, value))
        return results

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Fire-and-forget: schedule ``call`` without making the caller wait.

        Used on hot paths (segment closed, state changes) so the recorder never
        waits for a plugin.
        """
        task = asyncio.get_running_loop().create_task(self.call(hook_name, **kwargs))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait (bounded) for notifications still in flight."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout)
