"""Fixtures for the simulated-camera tests: a running RTSP server with two cameras."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nvr.sim.rtsp import RtspServer

USERNAME = "admin"
PASSWORD = "secret"


@pytest.fixture
async def rtsp_server() -> AsyncIterator[RtspServer]:
    """An RTSP server on an ephemeral loopback port with ``cam01`` (admin/secret) and ``cam02`` (open)."""
    server = RtspServer(host="127.0.0.1", port=0)
    await server.start()
    server.add_camera("cam01", username=USERNAME, password=PASSWORD)
    server.add_camera("cam02")
    try:
        yield server
    finally:
        await server.stop()
