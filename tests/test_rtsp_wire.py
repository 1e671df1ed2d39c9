"""RTSP/TCP framing: interleaved packets and responses split anyhow across reads, server requests, garbage."""

from __future__ import annotations

import asyncio
import random

import pytest

from nvr.rtsp_errors import RtspProtocolError
from nvr.rtsp_wire import RtspWire


class Sink(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.aborted = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written += data

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.aborted


def frame(channel: int, payload: bytes) -> bytes:
    return bytes((0x24, channel, len(payload) >> 8, len(payload) & 0xFF)) + payload


@pytest.mark.parametrize("seed", range(5))
async def test_frames_and_responses_survive_any_split(seed: int) -> None:
    rng = random.Random(seed)
    wire = RtspWire()
    wire.connection_made(Sink())
    got: dict[int, list[bytes]] = {0: [], 1: []}
    wire.handlers[0] = lambda d, v, s, e, r: got[0].append(bytes(v[s:e]))
    wire.handlers[1] = lambda d, v, s, e, r: got[1].append(bytes(v[s:e]))
    answer = wire.request("GET_PARAMETER", "rtsp://127.0.0.1/cam", {"Session": "1"})
    packets = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 1500))) for _ in range(40)]
    stream = b"".join(frame(i % 2 * 0 + (1 if i % 7 == 0 else 0), p) for i, p in enumerate(packets[:20]))
    stream += b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 5\r\nSession: 1;timeout=60\r\n\r\nhello"
    stream += b"OPTIONS * RTSP/1.0\r\nCSeq: 7\r\n\r\n"  # a request from the server: skipped
    stream += b"".join(frame(1 if i % 7 == 0 else 0, p) for i, p in enumerate(packets[20:], start=20))
    stream += frame(9, b"no handler")
    at = 0
    while at < len(stream):
        step = rng.choice((1, 2, 3, 5, 100, 1400, 4096))
        wire.data_received(stream[at:at + step])
        at += step
    response = await asyncio.wait_for(answer, 1)
    assert (response.status, response.body, response.header("session")) == (200, b"hello", "1;timeout=60")
    assert got[0] == [p for i, p in enumerate(packets) if i % 7] and got[1] == packets[::7]
    assert not wire.closed.done()


async def test_garbage_ends_the_connection_and_fails_pending_requests() -> None:
    wire = RtspWire()
    sink = Sink()
    wire.connection_made(sink)
    answer = wire.request("OPTIONS", "rtsp://127.0.0.1/cam", {})
    wire.data_received(frame(0, b"\x80" * 20) + b"\xffGARBAGE\x00" + bytes(range(200)))
    assert sink.aborted and isinstance(wire.closed.result(), RtspProtocolError)
    with pytest.raises(RtspProtocolError):
        await answer
    with pytest.raises(ConnectionResetError):
        wire.request("OPTIONS", "rtsp://127.0.0.1/cam", {})
