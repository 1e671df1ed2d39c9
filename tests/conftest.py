"""Shared fixtures: config files in a temp folder and a running nvr server."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest

from nvr.app import Server
from nvr.plugin_host import PluginHost

ADMIN_PASSWORD = "test-admin-password"


@pytest.fixture(autouse=True)
def _admin_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVR_ADMIN_PASSWORD", ADMIN_PASSWORD)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a config with storage in tmp_path and an ephemeral web port; return its path."""

    def write(body: str = "", name: str = "nvr.toml") -> Path:
        path = tmp_path / name
        head = '[server]\nport = 0\n[storage]\nroot = "storage"\n'
        path.write_text(head + textwrap.dedent(body), encoding="utf-8")
        return path

    return write


@pytest.fixture
def start_server() -> Callable[..., object]:
    """Factory: ``async with start_server(path, plugins=[...]) as server``."""

    def start(config_path: Path, plugins: list[tuple[str, object]] | None = None,
              check_interval_s: float = 30.0) -> Server:
        host = PluginHost(load_entry_points=False, extra_plugins=plugins or [])
        return Server(config_path, plugins=host, check_interval_s=check_interval_s)

    return start


@pytest.fixture
async def server(write_config: Callable[[str], Path], start_server) -> AsyncIterator[Server]:
    """A running server with no cameras."""
    async with start_server(write_config("")) as srv:
        yield srv
