"""Small test utilities: polling with a deadline, free and closed ports."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Callable


async def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll ``predicate`` until it is truthy; fail with a clear message after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A port nothing listens on (connections are refused)."""
    return free_port()


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def discovery_toml(discovery_port: int, password: str) -> str:
    """A [discovery] table that probes only 127.0.0.1 (unicast) on ``discovery_port``."""
    return f"""
[discovery]
enabled = true
multicast = false
unicast = ["127.0.0.1"]
port = {discovery_port}
timeout_s = 1.0
username = "admin"
password = "{password}"
"""
