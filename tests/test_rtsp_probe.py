"""The RTSP reachability check against the simulator (digest auth, 401, garbage, refused)."""

from __future__ import annotations

import asyncio

import pytest

from nvr.rtsp_probe import authorization, probe
from nvr.sim.rtsp import RtspServer
from tests.helpers import closed_port


@pytest.fixture
async def rtsp():
    async with RtspServer(port=0) as server:
        server.add_camera("cam", username="admin", password="s3cret")
        yield server


async def test_online_with_digest_auth(rtsp) -> None:
    result = await probe(rtsp.url("cam", "main"), "admin", "s3cret")
    assert result.state == "online", result.detail
    assert result.codecs == ("H264",)


async def test_wrong_password_is_auth_failed(rtsp) -> None:
    result = await probe(rtsp.url("cam", "main"), "admin", "wrong")
    assert result.state == "auth_failed"
    assert (await probe(rtsp.url("cam", "main"), None, None)).state == "auth_failed"


async def test_unauthorized_fault_is_auth_failed(rtsp) -> None:
    rtsp.faults("cam").unauthorized = True
    assert (await probe(rtsp.url("cam", "main"), "admin", "s3cret")).state == "auth_failed"


async def test_unknown_path_is_error(rtsp) -> None:
    result = await probe(rtsp.url("cam", "main").replace("/cam/", "/nope/"), "admin", "s3cret")
    assert result.state == "error" and "404" in result.detail


async def test_refused_and_silent_hosts_are_offline() -> None:
    refused = await probe(f"rtsp://127.0.0.1:{closed_port()}/x", "a", "b")
    assert refused.state == "offline" and "refused" in refused.detail.lower()

    async def silent(reader, writer):
        await asyncio.sleep(5)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await probe(f"rtsp://127.0.0.1:{port}/x", "a", "b", timeout=0.3)
    finally:
        server.close()
    assert result.state == "offline" and "no answer" in result.detail


async def test_garbage_answer_is_error() -> None:
    async def garbage(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
        await writer.drain()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await probe(f"rtsp://127.0.0.1:{port}/x", "a", "b")
    finally:
        server.close()
    assert result.state == "error" and "not an RTSP response" in result.detail


def test_digest_authorization_matches_rfc2617_example() -> None:
    # The RFC 2617 Mufasa example without qop (RFC 2069 style), a well-known value.
    header = authorization('Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"',
                           "GET", "/dir/index.html", "Mufasa", "Circle Of Life")
    assert 'response="670fd8c2df070c60b045671b8b24ff02"' in header
