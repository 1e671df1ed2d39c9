"""The bytes of one RTSP/TCP connection: requests out; responses and ``$``-interleaved RTP/RTCP in.

``RtspWire`` is an ``asyncio.BufferedProtocol``: the socket is read into a
fresh 64 KiB buffer (``get_buffer``), which is split into interleaved frames,
handed straight to the handler registered for their channel as ``(data, view,
start, end, recv_us)`` without copying, and RTSP responses, which complete the
future of the request with the same CSeq. (A plain ``Protocol`` gets each read
as a new ``bytes`` of asyncio's 256 KiB read size: an allocation that large
goes through mmap and costs ~30 µs a read, more than the packets in it.)
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nvr.rtsp_errors import RtspProtocolError

log = logging.getLogger(__name__)

PacketHandler = Callable[[bytes, memoryview, int, int, int], None]
"""``handler(data, view, start, end, recv_us)`` for the packet at ``data[start:end]``."""

READ_SIZE = 64 * 1024
"""Bytes asked for per read (plus whatever an incomplete frame left over)."""
MAX_HEAD = 64 * 1024
"""An RTSP message head larger than this is not RTSP."""
_REQUEST_LINE = re.compile(rb"[A-Z_]{3,20} \S+ RTSP/1\.\d\r?\n")


@dataclass
class RtspResponse:
    """One response: status, headers (lower-case names; repeated ones joined in ``all``) and body."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    all: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        """The first value of header ``name`` (case-insensitive)."""
        return self.headers.get(name.lower(), default)


def parse_head(head: bytes) -> tuple[str, dict[str, str], dict[str, list[str]]]:
    """The start line and the headers of a message head (without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    first: dict[str, str] = {}
    every: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        value = value.strip()
        first.setdefault(key, value)
        every.setdefault(key, []).append(value)
    return lines[0], first, every


class RtspWire(asyncio.BufferedProtocol):
    """One RTSP connection's framing; see the module docstring."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.handlers: list[PacketHandler | None] = [None] * 256
        self.closed: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        """Resolves (with the error, or None for a clean close) when the connection is gone."""
        self.received = 0
        self._pending: dict[int, asyncio.Future[RtspResponse]] = {}
        self._rest = b""
        self._buf = bytearray()
        self._cseq = 0

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._close(exc)

    def eof_received(self) -> bool:
        return False  # close the transport

    def get_buffer(self, sizehint: int) -> memoryview:
        rest = self._rest
        buf = self._buf = bytearray(len(rest) + READ_SIZE)  # fresh: handlers keep views of the last one
        if rest:
            buf[:len(rest)] = rest
        return memoryview(buf)[len(rest):]

    def buffer_updated(self, nbytes: int) -> None:
        recv_us = time.time_ns() // 1000
        self.received += nbytes
        data = self._buf
        filled = len(self._rest) + nbytes
        self._rest = b""
        try:
            used = self._frames(data, filled, recv_us)
        except Exception as exc:  # noqa: BLE001 - anything a handler raises ends this connection
            self.abort(exc)
            return
        if used < filled:
            self._rest = bytes(data[used:filled])

    def data_received(self, data: bytes) -> None:
        """Feed bytes that were read elsewhere (tests, replays) as if the socket had delivered them."""
        while data:
            room = self.get_buffer(len(data))
            size = min(len(room), len(data))
            room[:size] = data[:size]
            self.buffer_updated(size)
            data = data[size:]

    # ------------------------------------------------------------------ framing
    def _frames(self, data: bytearray, n: int, recv_us: int) -> int:
        view = memoryview(data)
        handlers = self.handlers
        pos = 0
        while pos < n:
            if data[pos] == 0x24:  # '$': interleaved binary data
                end = pos + 4
                if end > n:
                    break
                end += (data[pos + 2] << 8) | data[pos + 3]
                if end > n:
                    break
                handler = handlers[data[pos + 1]]
                if handler is not None:
                    handler(data, view, pos + 4, end, recv_us)
                pos = end
                continue
            head_end = data.find(b"\r\n\r\n", pos, n)
            if head_end < 0:
                if n - pos > MAX_HEAD or not _could_be_message(data, pos, n):
                    raise RtspProtocolError("bad data on the connection (neither RTSP nor interleaved RTP)")
                break
            if not _could_be_message(data, pos, n):
                raise RtspProtocolError("bad data on the connection (neither RTSP nor interleaved RTP)")
            start_line, headers, every = parse_head(bytes(data[pos:head_end]))
            try:
                length = int(headers.get("content-length", "0") or 0)
            except ValueError:
                raise RtspProtocolError("bad Content-Length") from None
            body_end = head_end + 4 + length
            if body_end > n:
                break
            body = bytes(data[head_end + 4:body_end])
            pos = body_end
            if start_line.startswith("RTSP/"):
                self._response(start_line, headers, every, body)
            else:  # a request from the server (ANNOUNCE, keep-alive OPTIONS...): not needed by a recorder
                log.debug("ignoring a request from the server: %s", start_line.split(" ", 1)[0])
        return pos

    def _response(self, start_line: str, headers: dict[str, str], every: dict[str, list[str]], body: bytes) -> None:
        parts = start_line.split(" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            raise RtspProtocolError(f"bad status line {start_line[:60]!r}") from None
        try:
            cseq = int(headers.get("cseq", "-1"))
        except ValueError:
            cseq = -1
        future = self._pending.pop(cseq, None)
        if future is None and len(self._pending) == 1 and cseq == -1:  # some cameras omit CSeq
            future = self._pending.pop(next(iter(self._pending)))
        if future is not None and not future.done():
            future.set_result(RtspResponse(status, parts[2] if len(parts) > 2 else "", headers, every, body))

    # ------------------------------------------------------------------ requests
    def request(self, method: str, url: str, headers: dict[str, str]) -> asyncio.Future[RtspResponse]:
        """Send a request; the future gets its response (or the error that closed the connection)."""
        if self.closed.done() or self.transport is None:
            raise ConnectionResetError("the RTSP connection is closed")
        self._cseq += 1
        future: asyncio.Future[RtspResponse] = asyncio.get_running_loop().create_future()
        self._pending[self._cseq] = future
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self._cseq}", *(f"{k}: {v}" for k, v in headers.items())]
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        return future

    def send_interleaved(self, channel: int, packet: bytes) -> None:
        """Send one ``$``-framed packet (an RTCP receiver report, say)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(bytes((0x24, channel, len(packet) >> 8, len(packet) & 0xFF)) + packet)

    def abort(self, exc: BaseException | None = None) -> None:
        """Close at once (no TEARDOWN), recording ``exc`` as the reason."""
        self._close(exc)
        if self.transport is not None:
            self.transport.abort()

    def _close(self, exc: BaseException | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc if isinstance(exc, Exception) else
                                     ConnectionResetError("the camera closed the connection"))


def _could_be_message(data: bytearray, pos: int, n: int) -> bool:
    """Whether ``data[pos:n]`` starts like an RTSP response or request (or a prefix of one)."""
    head = bytes(data[pos:min(n, pos + 24)])
    if head.startswith(b"RTSP/") or b"RTSP/".startswith(head):
        return True
    line_end = data.find(b"\n", pos, min(n, pos + 512))
    if line_end < 0:
        return n - pos < 512 and bool(re.match(rb"[A-Z_]{1,20}( |$)", head))
    return bool(_REQUEST_LINE.match(bytes(data[pos:line_end + 1])))
