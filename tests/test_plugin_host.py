"""The plugin host: registration order, check_pending, isolation, entry points."""

from __future__ import annotations

import asyncio
import logging
import sys
import types
from pathlib import Path

import pytest
from pydantic import BaseModel

from nvr.errors import PluginError
from nvr.hookspecs import hookimpl
from nvr.plugin_host import DEFAULT_PLUGINS, PluginHost, await_me_maybe, hook_names


def plugin(**hooks: object) -> types.SimpleNamespace:
    """A plugin object whose attributes are hookimpl-marked functions."""
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def test_builtins_are_registered_like_third_parties() -> None:
    host = PluginHost(load_entry_points=False)
    for module in DEFAULT_PLUGINS:
        name = module.rsplit(".", 1)[-1]
        assert name in host.plugin_names()
        assert host.status[name].source == "builtin"
    assert "camera_log" in host.config_models()


def test_misspelled_hook_fails_loudly() -> None:
    def camera_state_chnaged(camera):  # typo on purpose
        pass

    with pytest.raises(PluginError, match="camera_state_chnaged"):
        PluginHost(load_entry_points=False, extra_plugins=[("typo", plugin(camera_state_chnaged=camera_state_chnaged))])


def test_unknown_argument_is_rejected() -> None:
    def startup(runtime, bogus):
        pass

    with pytest.raises(PluginError, match="bogus"):
        PluginHost(load_entry_points=False, extra_plugins=[("bad", plugin(startup=startup))])


def test_hook_wrappers_are_rejected() -> None:
    def startup(runtime):
        yield

    wrapper = types.SimpleNamespace(startup=hookimpl(wrapper=True)(startup))
    with pytest.raises(PluginError, match="wrappers"):
        PluginHost(load_entry_points=False, extra_plugins=[("wrap", wrapper)])


async def test_raising_plugin_is_isolated(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def boom(camera):
        raise RuntimeError("kaput")

    async def good(camera, new):
        await asyncio.sleep(0)
        seen.append(f"{camera}:{new}")
        return "ok"

    host = PluginHost(load_entry_points=False, extra_plugins=[("good", plugin(camera_state_changed=good)),
                                                             ("broken", plugin(camera_state_changed=boom))])
    with caplog.at_level(logging.ERROR):
        results = await host.call("camera_state_changed", camera="c1", old="starting", new="online",
                                  detail=None, runtime=None)
    assert results == [("good", "ok")]
    assert seen == ["c1:online"]
    assert host.status["broken"].errors == 1
    assert host.status["broken"].last_error == "RuntimeError: kaput"
    assert host.status["broken"].last_error_hook == "camera_state_changed"
    assert not host.status["broken"].healthy and host.status["good"].healthy
    assert any("plugin broken failed in hook camera_state_changed" in r.getMessage() for r in caplog.records)


async def test_slow_async_plugin_times_out() -> None:
    async def hang(runtime):
        await asyncio.sleep(30)

    host = PluginHost(load_entry_points=False, extra_plugins=[("slow", plugin(startup=hang))])
    results = await asyncio.wait_for(host.call("startup", timeout=0.2, runtime=None), 5)
    assert results == []
    assert "did not finish within 0.2 s" in host.status["slow"].last_error


async def test_notify_does_not_wait_for_plugins() -> None:
    release = asyncio.Event()
    done: list[int] = []

    async def slow(segment):
        await release.wait()
        done.append(segment)

    host = PluginHost(load_entry_points=False, extra_plugins=[("slow", plugin(segment_closed=slow))])
    host.notify("segment_closed", camera="c", segment=7, runtime=None)
    await asyncio.sleep(0.01)
    assert done == []  # the caller went on while the plugin waits
    release.set()
    await host.drain()
    assert done == [7]


def test_config_models_claimed_twice_is_an_error() -> None:
    class A(BaseModel):
        pass

    def models():
        return {"camera_log": A}

    host = PluginHost(load_entry_points=False, extra_plugins=[("dup", plugin(config_models=models))])
    with pytest.raises(PluginError, match=r"\[plugins.camera_log\] is claimed by both"):
        host.config_models()


def test_async_config_models_is_an_error() -> None:
    async def config_models():
        return {}

    host = PluginHost(load_entry_points=False, extra_plugins=[("asyncmodels", plugin(config_models=config_models))])
    host.config_models()
    assert "must not be async" in host.status["asyncmodels"].last_error


def _install_dist(root: Path, dist: str, module: str, source: str, entry: str) -> None:
    (root / f"{module}.py").write_text(source)
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[nvr]\n{entry} = {module}\n")


def test_entry_point_plugins_load_and_broken_ones_are_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_dist(tmp_path, "nvr_test_good", "nvr_test_good_plugin",
                  "from nvr.hookspecs import hookimpl\n\n@hookimpl\ndef startup(runtime):\n    return 'hello'\n",
                  "goodplug")
    _install_dist(tmp_path, "nvr_test_broken", "nvr_test_broken_plugin", "raise ImportError('missing dep')\n",
                  "brokenplug")
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in ("nvr_test_good_plugin", "nvr_test_broken_plugin"):
        sys.modules.pop(mod, None)
    host = PluginHost()
    assert "goodplug" in host.plugin_names()
    assert host.status["goodplug"].source.startswith("entry point")
    assert "brokenplug" not in host.plugin_names()
    assert "missing dep" in host.status["brokenplug"].load_error
    assert host.call_sync("startup", runtime=None) == [("goodplug", "hello")]


async def test_await_me_maybe() -> None:
    async def coro():
        return 3

    assert await await_me_maybe(2) == 2
    assert await await_me_maybe(coro()) == 3


def test_hook_names_lists_the_specs() -> None:
    names = hook_names()
    assert {"config_models", "startup", "shutdown", "camera_discovered", "camera_state_changed",
            "segment_closed"} <= set(names)
