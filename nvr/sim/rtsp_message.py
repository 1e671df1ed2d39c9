"""RTSP 1.0 wire format: reading requests and interleaved frames, writing responses, Transport headers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from email.utils import formatdate

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "RTSP Version Not Supported",
}


class RtspProtocolError(Exception):
    """The peer sent something that is not RTSP."""


@dataclass
class RtspRequest:
    """A parsed RTSP request; header names are stored lowercased."""

    method: str
    uri: str
    version: str
    headers: dict[str, str]
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        """Header value by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    @property
    def cseq(self) -> str | None:
        """The CSeq header, echoed in the response."""
        return self.header("cseq")

    @property
    def session_id(self) -> str | None:
        """Session id without the ``;timeout=`` suffix."""
        value = self.header("session")
        return value.split(";", 1)[0].strip() if value else None


@dataclass
class InterleavedFrame:
    """A ``$``-framed binary packet the client sent (usually an RTCP receiver report)."""

    channel: int
    data: bytes


@dataclass
class RtspResponse:
    """An RTSP response; ``encode`` adds CSeq, Date, Server and Content-Length."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def add(self, name: str, value: str) -> RtspResponse:
        """Append a header and return self."""
        self.headers.append((name, value))
        return self

    def encode(self, cseq: str | None, server: str = "nvr-sim") -> bytes:
        """Serialise for the wire."""
        lines = [f"RTSP/1.0 {self.status} {REASONS.get(self.status, 'Unknown')}"]
        if cseq is not None:
            lines.append(f"CSeq: {cseq}")
        lines.append(f"Date: {formatdate(usegmt=True)}")
        lines.append(f"Server: {server}")
        lines.extend(f"{k}: {v}" for k, v in self.headers)
        if self.body:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


async def read_message(reader: asyncio.StreamReader) -> RtspRequest | InterleavedFrame | None:
    """Read the next request or interleaved frame; ``None`` on a clean EOF."""
    try:
        first = await reader.readexactly(1)
    except asyncio.IncompleteReadError:
        return None
    if first == b"$":
        header = await reader.readexactly(3)
        length = int.from_bytes(header[1:3], "big")
        return InterleavedFrame(header[0], await reader.readexactly(length))
    try:
        head = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise RtspProtocolError("request header too large") from exc
    if len(head) > MAX_HEADER_BYTES:
        raise RtspProtocolError("request header too large")
    request = parse_request_head(head)
    length = request.header("content-length")
    if length:
        try:
            size = int(length)
        except ValueError as exc:
            raise RtspProtocolError("bad Content-Length") from exc
        if not 0 <= size <= MAX_BODY_BYTES:
            raise RtspProtocolError("body too large")
        request.body = await reader.readexactly(size)
    return request


def parse_request_head(head: bytes) -> RtspRequest:
    """Parse a request line and headers (terminated by an empty line)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RtspProtocolError("request is not UTF-8") from exc
    lines = text.split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3 or not parts[2].startswith("RTSP/"):
        raise RtspProtocolError(f"bad request line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise RtspProtocolError(f"bad header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return RtspRequest(parts[0].upper(), parts[1], parts[2], headers)


@dataclass(frozen=True)
class TransportSpec:
    """One alternative from a SETUP ``Transport`` header."""

    lower: str  # "TCP" or "UDP"
    multicast: bool
    interleaved: tuple[int, int] | None
    client_port: tuple[int, int] | None
    mode: str


def _pair(value: str) -> tuple[int, int]:
    a, _, b = value.partition("-")
    first = int(a)
    second = int(b) if b else first + 1
    if not (0 <= first <= 65535 and 0 <= second <= 65535):
        raise ValueError(value)
    return first, second


def parse_transport(value: str) -> list[TransportSpec]:
    """Parse a ``Transport`` header into its comma-separated alternatives (bad ones skipped)."""
    out = []
    for alternative in value.split(","):
        items = [i.strip() for i in alternative.split(";") if i.strip()]
        if not items:
            continue
        proto = items[0].upper()
        if not proto.startswith("RTP/AVP"):
            continue
        params: dict[str, str] = {}
        flags: set[str] = set()
        for item in items[1:]:
            k, sep, v = item.partition("=")
            if sep:
                params[k.lower()] = v.strip('"')
            else:
                flags.add(k.lower())
        try:
            out.append(
                TransportSpec(
                    lower="TCP" if proto.endswith("/TCP") else "UDP",
                    multicast="multicast" in flags,
                    interleaved=_pair(params["interleaved"]) if "interleaved" in params else None,
                    client_port=_pair(params["client_port"]) if "client_port" in params else None,
                    mode=params.get("mode", "PLAY").upper(),
                )
            )
        except ValueError:
            continue
    return out
