"""Test helpers: a raw-socket RTSP client and a blocking PyAV frame grabber."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field

import av

from nvr.sim.rtsp_auth import digest_response, parse_auth_params


@dataclass
class Reply:
    """An RTSP response as the raw client saw it."""

    status: int
    headers: dict[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Packet:
    """One ``$``-interleaved frame."""

    channel: int
    data: bytes
    received: float = field(default_factory=time.monotonic)


class NotInterleaved(Exception):
    """The server sent a byte that starts neither a ``$`` frame nor an RTSP response."""

    def __init__(self, byte: bytes) -> None:
        super().__init__(f"unexpected byte {byte!r} in the interleaved stream")
        self.byte = byte


class RawRtspClient:
    """A minimal RTSP client over a real socket, for checking the wire protocol."""

    def __init__(
        self, host: str, port: int, username: str | None = None, password: str | None = None, rcvbuf: int | None = None
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.rcvbuf = rcvbuf
        self.cseq = 0
        self.session: str | None = None
        self.packets: deque[Packet] = deque()
        self._challenge: dict[str, str] | None = None
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def connect(self) -> RawRtspClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (self.host, self.port))
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        return self

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    async def __aenter__(self) -> RawRtspClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _auth_header(self, method: str, url: str) -> str | None:
        if self._challenge is None or self.username is None or self.password is None:
            return None
        c = self._challenge
        response = digest_response(self.username, self.password, c["realm"], method, url, c["nonce"])
        return (
            f'Digest username="{self.username}", realm="{c["realm"]}", nonce="{c["nonce"]}", uri="{url}", '
            f'response="{response}"'
        )

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        *,
        retry_auth: bool = True,
        timeout: float = 5.0,
    ) -> Reply:
        """Send a request and wait for its response (interleaved packets meanwhile are queued)."""
        reply = await self._send(method, url, headers, timeout)
        if reply.status == 401 and retry_auth and self.username is not None:
            self._challenge = parse_auth_params(reply.header("www-authenticate").split(" ", 1)[1])
            reply = await self._send(method, url, headers, timeout)
        return reply

    async def _send(self, method: str, url: str, headers: dict[str, str] | None, timeout: float) -> Reply:
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}", "User-Agent: nvr-test"]
        if self.session and "Session" not in (headers or {}):
            lines.append(f"Session: {self.session}")
        auth = self._auth_header(method, url)
        if auth:
            lines.append(f"Authorization: {auth}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        reply = await asyncio.wait_for(self._read_reply(), timeout)
        assert reply.header("cseq") == str(self.cseq), "CSeq not echoed"
        session = reply.header("session")
        if session and method == "SETUP":
            self.session = session.split(";")[0]
        return reply

    async def _read_reply(self) -> Reply:
        while True:
            item = await self._read_item()
            if isinstance(item, Reply):
                return item
            self.packets.append(item)

    async def _read_item(self) -> Reply | Packet:
        first = await self.reader.readexactly(1)
        if first == b"$":
            channel, length = struct.unpack("!BH", await self.reader.readexactly(3))
            return Packet(channel, await self.reader.readexactly(length))
        if first != b"R":
            raise NotInterleaved(first)
        head = (first + await self.reader.readuntil(b"\r\n\r\n")).decode()
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return Reply(status, headers, body)

    async def read_packet(self, timeout: float = 5.0) -> Packet:
        """Next interleaved packet (raises ``TimeoutError`` if none arrives)."""
        if self.packets:
            return self.packets.popleft()
        while True:
            item = await asyncio.wait_for(self._read_item(), timeout)
            if isinstance(item, Packet):
                return item

    async def collect(self, seconds: float) -> list[Packet]:
        """All interleaved packets received during ``seconds``."""
        out = list(self.packets)
        self.packets.clear()
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                out.append(await self.read_packet(timeout=left))
            except TimeoutError:
                break
        return out

    async def play(
        self, url: str, transport: str = "RTP/AVP/TCP;unicast;interleaved=0-1"
    ) -> tuple[Reply, Reply, Reply]:
        """DESCRIBE, SETUP (track), PLAY; returns the three replies."""
        describe = await self.request("DESCRIBE", url, {"Accept": "application/sdp"})
        assert describe.status == 200, describe
        setup = await self.request("SETUP", f"{url}/trackID=0", {"Transport": transport})
        assert setup.status == 200, setup
        play = await self.request("PLAY", f"{url}/", {"Range": "npt=0.000-"})
        assert play.status == 200, play
        return describe, setup, play


def rtp_header(data: bytes) -> dict[str, int]:
    b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
    return {"version": b0 >> 6, "marker": b1 >> 7, "pt": b1 & 0x7F, "seq": seq, "ts": ts, "ssrc": ssrc}


def nal_types(payload: bytes) -> int:
    """NAL type of a single-NAL packet, or the inner type of an FU-A start fragment."""
    t = payload[0] & 0x1F
    if t == 28:
        return payload[1] & 0x1F
    return t


def frames_from_packets(packets: list[Packet], channel: int = 0) -> list[list[dict[str, int]]]:
    """Group RTP packets of ``channel`` into access units using the marker bit."""
    frames: list[list[dict[str, int]]] = []
    current: list[dict[str, int]] = []
    for p in packets:
        if p.channel != channel:
            continue
        h = rtp_header(p.data)
        h["nal"] = nal_types(p.data[12:])
        current.append(h)
        if h["marker"]:
            frames.append(current)
            current = []
    return frames


@dataclass
class Grab:
    """What :func:`grab_frames` saw."""

    sizes: list[tuple[int, int]]
    times: list[float]  # decoded frame pts in seconds
    elapsed: float
    ended: bool  # the stream ended (EOF or error) before ``count`` frames
    error: str | None = None


def grab_frames(url: str, count: int, transport: str = "tcp", timeout: float = 5.0) -> Grab:
    """Blocking: decode up to ``count`` frames from ``url`` with PyAV (run it via ``asyncio.to_thread``)."""
    started = time.monotonic()
    sizes: list[tuple[int, int]] = []
    times: list[float] = []
    ended, error = True, None
    with av.open(url, options={"rtsp_transport": transport}, timeout=(timeout, timeout)) as container:
        try:
            for frame in container.decode(video=0):
                sizes.append((frame.width, frame.height))
                if frame.pts is not None:
                    times.append(float(frame.pts * frame.time_base))
                if len(sizes) >= count:
                    ended = False
                    break
        except av.error.FFmpegError as exc:
            error = repr(exc)
    return Grab(sizes, times, time.monotonic() - started, ended, error)


def with_credentials(url: str, username: str = "admin", password: str = "secret") -> str:
    return url.replace("rtsp://", f"rtsp://{username}:{password}@", 1)
