"""An asyncio RTSP 1.0 client for recording: OPTIONS, DESCRIBE (Basic/Digest auth), SETUP, PLAY, keep-alive, TEARDOWN.

Media arrive over RTP/AVP/TCP interleaved on the RTSP connection (default) or
RTP/AVP over UDP; either way each packet goes straight to the handler given
to ``setup()``, on the event loop that runs the client. Failures raise
``nvr.rtsp_errors`` exceptions (401/403 -> auth_failed, 404 -> not_found),
``ConnectionRefusedError`` or ``TimeoutError``; no message contains the URL's
credentials.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from nvr.media_units import AudioTrack, VideoTrack
from nvr.rtp_depacketize import RtpFormatError
from nvr.rtsp_auth_client import Credentials, pick_challenge
from nvr.rtsp_errors import NoMediaError, RtspProtocolError, RtspStatusError
from nvr.rtsp_wire import PacketHandler, RtspResponse, RtspWire
from nvr.sdp_parse import SdpError, audio_track, parse_sdp, video_track

log = logging.getLogger(__name__)

USER_AGENT = "nvr/0.1"
DEFAULT_PORT = 554
KEEPALIVE_DEFAULT_S = 60.0
"""Session timeout assumed when the camera does not state one."""
UDP_BUFFER = 4 << 20
DATAGRAM_MAX = 65536
"""Largest datagram read (RTP over UDP stays under the MTU; asyncio would ask for 256 KiB each time)."""


@dataclass(frozen=True)
class SessionMedia:
    """What DESCRIBE offered that we record: the video track (required), the audio track, their control URLs."""

    video: VideoTrack
    video_control: str
    audio: AudioTrack | None
    audio_control: str | None
    play_url: str


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without userinfo, and the user name and password it carried (percent-decoded)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), unquote(user), unquote(password) if sep else None


class _Datagrams(asyncio.DatagramProtocol):
    """RTP or RTCP over UDP from the camera's address to one handler; bad datagrams are counted and dropped."""

    def __init__(self, handler: PacketHandler | None, peer: str) -> None:
        self.handler, self.peer = handler, peer
        self.bad = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr[0] != self.peer or self.handler is None:
            return
        try:
            self.handler(data, memoryview(data), 0, len(data), time.time_ns() // 1000)
        except RtpFormatError:
            self.bad += 1


class RtspClient:
    """One RTSP session to one URL. Call ``open()``, ``setup()`` per track, ``play()``; then ``teardown()``."""

    def __init__(self, url: str, username: str | None = None, password: str | None = None, *,
                 transport: Literal["tcp", "udp"] = "tcp", request_timeout: float = 5.0) -> None:
        self.url, url_user, url_password = split_credentials(url)
        self.username = username if username is not None else url_user
        self.password = password if password is not None else url_password
        parts = urlsplit(self.url)
        if parts.scheme.lower() not in ("rtsp", "rtsps") or not parts.hostname:
            raise ValueError("not an rtsp:// URL")
        self.host, self.port = parts.hostname, parts.port or DEFAULT_PORT
        self.transport = transport
        self.request_timeout = request_timeout
        self.wire: RtspWire | None = None
        self.session_id: str | None = None
        self.session_timeout_s = KEEPALIVE_DEFAULT_S
        self._auth: Credentials | None = None
        self._public: set[str] = set()
        self._channel = 0
        self._udp: list[asyncio.DatagramTransport] = []

    # ------------------------------------------------------------------ connection
    async def connect(self) -> None:
        """Open the TCP connection."""
        loop = asyncio.get_running_loop()
        _, self.wire = await loop.create_connection(RtspWire, self.host, self.port)

    @property
    def closed(self) -> asyncio.Future[BaseException | None]:
        """Resolves when the connection is gone (with the error that ended it, or None)."""
        assert self.wire is not None
        return self.wire.closed

    def abort(self) -> None:
        """Close everything at once."""
        if self.wire is not None:
            self.wire.abort()
        for transport in self._udp:
            transport.close()
        self._udp.clear()

    async def request(self, method: str, url: str, headers: dict[str, str] | None = None) -> RtspResponse:
        """Send one request (answering an auth challenge once); raise ``RtspStatusError`` unless 2xx."""
        if self.wire is None:
            raise RuntimeError("not connected")
        for attempt in range(2):
            sent = {"User-Agent": USER_AGENT, **(headers or {})}
            if self.session_id is not None:
                sent["Session"] = self.session_id
            if self._auth is not None:
                sent["Authorization"] = self._auth.header(method, url)
            response = await asyncio.wait_for(self.wire.request(method, url, sent), self.request_timeout)
            if response.status != 401 or attempt or self.username is None:
                break
            challenge = pick_challenge(response.all.get("www-authenticate", []))
            if challenge is None:
                break
            renewed = Credentials(self.username, self.password or "", challenge)
            if self._auth is not None and not renewed.stale and self._auth.scheme == renewed.scheme == "basic":
                break  # the same Basic credentials were refused
            self._auth = renewed
        if not 200 <= response.status < 300:
            raise RtspStatusError(method, response.status, response.reason)
        session = response.header("session")
        if session:
            sid, _, params = session.partition(";")
            self.session_id = sid.strip()
            for param in params.split(";"):
                key, _, value = param.strip().partition("=")
                if key.lower() == "timeout":
                    try:
                        self.session_timeout_s = max(5.0, float(value))
                    except ValueError:
                        pass
        return response

    # ------------------------------------------------------------------ session
    async def open(self) -> SessionMedia:
        """Connect, OPTIONS, DESCRIBE; choose the video (H.264/H.265) and audio (AAC/G.711) tracks."""
        await self.connect()
        try:
            options = await self.request("OPTIONS", self.url)
            self._public = {m.strip().upper() for m in options.header("public").split(",") if m.strip()}
        except RtspStatusError as exc:
            if exc.status in (401, 403):
                raise
            log.debug("OPTIONS answered %s; going on", exc.status)
        described = await self.request("DESCRIBE", self.url, {"Accept": "application/sdp"})
        base = described.header("content-base") or described.header("content-location") or self.url
        try:
            sdp = parse_sdp(described.body.decode("utf-8", "replace"), base)
        except SdpError as exc:
            raise RtspProtocolError(f"bad session description: {exc}") from None
        video = next(((t, m.control) for m in sdp.media if (t := video_track(m)) is not None), None)
        if video is None:
            offered = ", ".join(f"{m.kind} {m.encoding or '?'}" for m in sdp.media) or "nothing"
            raise NoMediaError(f"no H.264 or H.265 video track (the camera offers {offered})")
        audio = next(((t, m.control) for m in sdp.media if (t := audio_track(m)) is not None), (None, None))
        return SessionMedia(video[0], video[1], audio[0], audio[1], sdp.control)

    async def setup(self, control: str, rtp: PacketHandler, rtcp: PacketHandler | None = None) -> None:
        """SETUP one track; its RTP packets go to ``rtp`` (RTCP to ``rtcp``, or nowhere)."""
        assert self.wire is not None
        if self.transport == "tcp":
            wanted = f"RTP/AVP/TCP;unicast;interleaved={self._channel}-{self._channel + 1}"
            response = await self.request("SETUP", control, {"Transport": wanted})
            channels = _transport_param(response.header("transport"), "interleaved") or \
                f"{self._channel}-{self._channel + 1}"
            try:
                first, _, second = channels.partition("-")
                rtp_channel, rtcp_channel = int(first), int(second or int(first) + 1)
            except ValueError:
                raise RtspProtocolError(f"bad Transport header {response.header('transport')!r}") from None
            if not (0 <= rtp_channel < 256 and 0 <= rtcp_channel < 256):
                raise RtspProtocolError("interleaved channel out of range")
            self.wire.handlers[rtp_channel] = rtp
            self.wire.handlers[rtcp_channel] = rtcp
            self._channel = max(self._channel, rtp_channel, rtcp_channel) + 1
            self._channel += self._channel % 2
            return
        rtp_port = await self._open_udp(rtp, rtcp)
        await self.request("SETUP", control, {"Transport": f"RTP/AVP;unicast;client_port={rtp_port}-{rtp_port + 1}"})

    async def play(self, url: str) -> None:
        """PLAY the aggregate (or only) stream from now on."""
        await self.request("PLAY", url, {"Range": "npt=0.000-"})

    def read_batch(self, nbytes: int) -> None:
        """Over TCP, have the event loop wake for this connection only once ``nbytes`` wait in the socket.

        (``SO_RCVLOWAT``; 1 = for every byte, as by default.) A camera's
        packets come a few at a time; reading them in bigger batches costs the
        same per byte but far fewer wake-ups. An end of stream still wakes at
        once; data below the mark waits, so lower it before the last read.
        """
        if self.transport != "tcp" or self.wire is None or self.wire.transport is None:
            return
        sock = self.wire.transport.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, max(1, nbytes))
        except (OSError, AttributeError) as exc:  # not every platform has it: then every read is small
            log.debug("SO_RCVLOWAT: %s", exc)

    async def keepalive(self, url: str) -> None:
        """Refresh the session (GET_PARAMETER if the camera offers it, else OPTIONS)."""
        method = "GET_PARAMETER" if "GET_PARAMETER" in self._public else "OPTIONS"
        await self.request(method, url)

    async def teardown(self, url: str, timeout: float = 0.5) -> None:
        """TEARDOWN (waiting at most ``timeout``), then close the connection."""
        try:
            if self.wire is not None and self.session_id is not None and not self.wire.closed.done():
                await asyncio.wait_for(self.request("TEARDOWN", url), timeout)
        except (OSError, TimeoutError, RtspStatusError, RtspProtocolError) as exc:
            log.debug("TEARDOWN: %s", type(exc).__name__)
        finally:
            if self.wire is not None and self.wire.transport is not None:
                self.wire.transport.close()
            for transport in self._udp:
                transport.close()
            self._udp.clear()

    async def _open_udp(self, rtp: PacketHandler, rtcp: PacketHandler | None) -> int:
        """Bind an even/odd port pair on the local address of the RTSP connection."""
        assert self.wire is not None and self.wire.transport is not None
        local = self.wire.transport.get_extra_info("sockname")[0]
        peer = self.wire.transport.get_extra_info("peername")[0]
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in local else socket.AF_INET
        for _ in range(50):
            pair = _bind_pair(family, local)
            if pair is None:
                continue
            for sock, handler in zip(pair, (rtp, rtcp), strict=True):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_BUFFER)
                transport, _ = await loop.create_datagram_endpoint(lambda h=handler: _Datagrams(h, peer), sock=sock)
                if hasattr(transport, "max_size"):  # asyncio allocates this much per datagram (256 KiB: mmap)
                    transport.max_size = DATAGRAM_MAX
                self._udp.append(transport)
            return pair[0].getsockname()[1]
        raise OSError("no free UDP port pair for RTP")


def _bind_pair(family: int, host: str) -> tuple[socket.socket, socket.socket] | None:
    """Two UDP sockets on an even port and the next one, or None if this try did not find such a pair."""
    first = socket.socket(family, socket.SOCK_DGRAM)
    try:
        first.bind((host, 0))
        port = first.getsockname()[1]
        if port % 2 == 0 and port < 65535:
            second = socket.socket(family, socket.SOCK_DGRAM)
            try:
                second.bind((host, port + 1))
                return first, second
            except OSError:
                second.close()
    except OSError:
        pass
    first.close()
    return None


def _transport_param(header: str, name: str) -> str | None:
    for param in header.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == name:
            return value
    return None
