"""One RTSP client connection: request dispatch (OPTIONS ... TEARDOWN), auth, and its sessions."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from nvr.sim.camera import STREAMS, Camera
from nvr.sim.media import MediaSink, RtpStreamer, TcpInterleavedSink, UdpSink
from nvr.sim.rtsp_message import (
    InterleavedFrame,
    RtspProtocolError,
    RtspRequest,
    RtspResponse,
    TransportSpec,
    parse_transport,
    read_message,
)
from nvr.sim.sdp import TRACK_CONTROL, build_sdp

if TYPE_CHECKING:
    from nvr.sim.rtsp import RtspServer

log = logging.getLogger(__name__)

PUBLIC_METHODS = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER, TEARDOWN"


@dataclass
class RtspSession:
    """A SETUP'd stream: which camera/stream, how packets travel, and its RTP streamer."""

    id: str
    camera: Camera
    stream: str
    connection: RtspConnection
    streamer: RtpStreamer
    transport: str
    last_activity: float
    udp_peer: tuple[str, int] | None = None  # client's RTCP address, for keep-alive matching
    closed: bool = field(default=False)

    def touch(self) -> None:
        """Record client activity (keeps the session from timing out)."""
        self.last_activity = asyncio.get_running_loop().time()

    async def close(self) -> None:
        """Stop streaming; idempotent."""
        self.closed = True
        await self.streamer.stop()


@dataclass(frozen=True)
class _Target:
    camera: str
    stream: str
    track: str | None


def parse_target(uri: str) -> _Target | None:
    """Split ``rtsp://host:port/<camera>/<stream>[/trackID=0]`` into its parts (None if no camera)."""
    path = urlsplit(uri).path if "://" in uri else uri.split("?", 1)[0]
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or len(parts) > 3:
        return None
    return _Target(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


class RtspConnection:
    """Serves requests on one TCP connection; owns the sessions set up on it."""

    def __init__(self, server: RtspServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader, self.writer = reader, writer
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        self.peer: tuple[str, int] = (peer[0], peer[1])
        self.sessions: dict[str, RtspSession] = {}
        self._next_channel = 0
        sock = writer.get_extra_info("socket")
        if server.settings.send_buffer and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, server.settings.send_buffer)

    async def run(self) -> None:
        """Read and answer requests until EOF, error, or the server closes us."""
        log.debug("connection from %s:%d", *self.peer)
        try:
            while True:
                message = await read_message(self.reader)
                if message is None:
                    break
                if isinstance(message, InterleavedFrame):
                    for session in self.sessions.values():
                        session.touch()  # RTCP receiver reports count as keep-alive
                    continue
                response = await self._dispatch(message)
                if self.writer.transport.is_closing():
                    break
                self.writer.write(response.encode(message.cseq))
        except RtspProtocolError as exc:
            log.info("protocol error from %s:%d: %s", *self.peer, exc)
            if not self.writer.transport.is_closing():
                self.writer.write(RtspResponse(400).encode(None))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            await self.close()

    def drop(self, reason: str, abort: bool = False) -> None:
        """Close the connection from the server side (faults, slow clients, timeouts)."""
        log.info("closing connection %s:%d: %s", self.peer[0], self.peer[1], reason)
        if abort:
            self.writer.transport.abort()
        else:
            self.writer.close()

    async def close(self) -> None:
        """Tear down all sessions and close the socket; idempotent."""
        sessions, self.sessions = list(self.sessions.values()), {}
        for session in sessions:
            self.server.unregister_session(session)
            await session.close()
        if not self.writer.transport.is_closing():
            self.writer.close()

    # ------------------------------------------------------------------ dispatch
    async def _dispatch(self, request: RtspRequest) -> RtspResponse:
        if request.cseq is None:
            return RtspResponse(400)
        if request.version != "RTSP/1.0":
            return RtspResponse(505)
        session: RtspSession | None = None
        if request.session_id is not None and request.method not in ("SETUP",):
            session = self.server.get_session(request.session_id)
            if session is None:
                return RtspResponse(454)
            session.touch()
        camera = session.camera if session else None
        target = parse_target(request.uri)
        if camera is None and target is not None:
            camera = self.server.get_camera(target.camera)
        if camera is not None:
            denied = self._check_auth(request, camera)
            if denied is not None:
                return denied
        handler = getattr(self, f"_on_{request.method.lower()}", None)
        if handler is None:
            return RtspResponse(501).add("Public", PUBLIC_METHODS)
        try:
            return await handler(request, target, session)
        except Exception:
            log.exception("error handling %s %s", request.method, request.uri)
            return RtspResponse(500)

    def _check_auth(self, request: RtspRequest, camera: Camera) -> RtspResponse | None:
        unauthorized = camera.faults.unauthorized
        if not unauthorized:
            if camera.credentials is None or request.method == "OPTIONS":
                return None
            if self.server.authenticator.check(request.method, request.header("authorization"), camera.credentials):
                return None
        log.debug("401 for %s %s from %s:%d", request.method, request.uri, *self.peer)
        return RtspResponse(401).add("WWW-Authenticate", self.server.authenticator.challenge())

    def _session_header(self, session: RtspSession) -> str:
        return f"{session.id};timeout={max(1, round(self.server.session_timeout))}"

    def _lookup(self, target: _Target | None) -> tuple[Camera, str] | RtspResponse:
        if target is None:
            return RtspResponse(404)
        camera = self.server.get_camera(target.camera)
        if camera is None or target.stream not in STREAMS:
            return RtspResponse(404)
        if target.track is not None and target.track != TRACK_CONTROL:
            return RtspResponse(404)
        return camera, target.stream

    # ------------------------------------------------------------------ methods
    async def _on_options(
        self, request: RtspRequest, target: _Target | None, session: RtspSession | None
    ) -> RtspResponse:
        response = RtspResponse(200).add("Public", PUBLIC_METHODS)
        if session:
            response.add("Session", self._session_header(session))
        return response

    async def _on_describe(
        self, request: RtspRequest, target: _Target | None, session: RtspSession | None
    ) -> RtspResponse:
        found = self._lookup(target)
        if isinstance(found, RtspResponse):
            return found
        camera, stream = found
        clip = self.server.source(stream).clip
        sdp = build_sdp(clip, f"{camera.name} {stream}", secrets.randbits(31), self.server.host)
        return (
            RtspResponse(200, body=sdp.encode("ascii"))
            .add("Content-Type", "application/sdp")
            .add("Content-Base", self.server.url(camera.name, stream) + "/")
        )

    async def _on_setup(
        self, request: RtspRequest, target: _Target | None, session: RtspSession | None
    ) -> RtspResponse:
        found = self._lookup(target)
        if isinstance(found, RtspResponse):
            return found
        camera, stream = found
        specs = [
            s for s in parse_transport(request.header("transport", "") or "") if not s.multicast and s.mode == "PLAY"
        ]
        spec = next((s for s in specs if s.lower == "TCP" or (s.client_port and self.server.udp is not None)), None)
        if spec is None:
            return RtspResponse(461)
        existing = self.sessions.get(request.session_id or "")
        if request.session_id and existing is None:
            return RtspResponse(454)
        if existing is not None:
            if existing.streamer.playing:
                return RtspResponse(455)
            await self._remove_session(existing)
        sink, transport, udp_peer = self._make_sink(spec)
        session_id = request.session_id or secrets.token_hex(8).upper()
        box: list[RtspSession] = []
        streamer = RtpStreamer(
            self.server.source(stream),
            self.server.alternate_source(),
            camera.faults,
            sink,
            on_drop=lambda reason, abort: self._on_stream_drop(box[0], reason, abort),
            settings=self.server.settings,
            cname=f"{camera.name}-{stream}@nvr-sim",
        )
        transport += f';ssrc={streamer.ssrc:08X};mode="PLAY"'
        loop_time = asyncio.get_running_loop().time()
        new = RtspSession(session_id, camera, stream, self, streamer, transport, loop_time, udp_peer)
        box.append(new)
        self.sessions[session_id] = new
        self.server.register_session(new)
        log.debug(
            "SETUP %s/%s session %s over %s", camera.name, stream, session_id, "TCP" if spec.lower == "TCP" else "UDP"
        )
        return RtspResponse(200).add("Transport", transport).add("Session", self._session_header(new))

    def _make_sink(self, spec: TransportSpec) -> tuple[MediaSink, str, tuple[str, int] | None]:
        if spec.lower == "TCP":
            rtp_ch, rtcp_ch = spec.interleaved or (self._next_channel, self._next_channel + 1)
            self._next_channel = max(self._next_channel, rtp_ch, rtcp_ch) + 1
            self._next_channel += self._next_channel % 2
            sink = TcpInterleavedSink(self.writer, rtp_ch, rtcp_ch)
            return sink, f"RTP/AVP/TCP;unicast;interleaved={rtp_ch}-{rtcp_ch}", None
        udp = self.server.udp
        assert udp is not None and spec.client_port is not None
        host = self.peer[0]  # only ever the loopback peer: Transport "destination=" is ignored
        rtp_addr, rtcp_addr = (host, spec.client_port[0]), (host, spec.client_port[1])
        sink = UdpSink(udp.rtp, udp.rtcp, rtp_addr, rtcp_addr)
        transport = (
            f"RTP/AVP;unicast;client_port={spec.client_port[0]}-{spec.client_port[1]};"
            f"server_port={udp.rtp_port}-{udp.rtcp_port};source={self.server.host}"
        )
        return sink, transport, rtcp_addr

    async def _on_play(self, request: RtspRequest, target: _Target | None, session: RtspSession | None) -> RtspResponse:
        if session is None or session.connection is not self:
            return RtspResponse(454)
        session.streamer.play()  # the sending task has not run yet: seq/rtptime are those of the first packet
        rtp_time = session.streamer.next_rtp_time()
        seq = session.streamer.seq
        track_url = f"{self.server.url(session.camera.name, session.stream)}/{TRACK_CONTROL}"
        log.debug("PLAY %s/%s session %s", session.camera.name, session.stream, session.id)
        return (
            RtspResponse(200)
            .add("Session", self._session_header(session))
            .add("Range", "npt=0.000-")
            .add("RTP-Info", f"url={track_url};seq={seq};rtptime={rtp_time}")
        )

    async def _on_pause(
        self, request: RtspRequest, target: _Target | None, session: RtspSession | None
    ) -> RtspResponse:
        if session is None or session.connection is not self:
            return RtspResponse(454)
        await session.streamer.pause()
        return RtspResponse(200).add("Session", self._session_header(session))

    async def _on_get_parameter(
        self, request: RtspRequest, target: _Target | None, session: RtspSession | None
    ) -> RtspResponse:
        response = RtspResponse(200)
        if session:
            response.add("Session", self._session_header(session))
        return response

    _on_set_parameter = _on_get_parameter

    async def _on_teardown(
        self, request: RtspRequest, target: _Target | None, session: RtspSession | None
    ) -> RtspResponse:
        if session is None or session.connection is not self:
            return RtspResponse(454)
        await self._remove_session(session)
        log.debug("TEARDOWN session %s", session.id)
        return RtspResponse(200).add("Session", session.id)

    # ------------------------------------------------------------------ helpers
    async def _remove_session(self, session: RtspSession) -> None:
        self.sessions.pop(session.id, None)
        self.server.unregister_session(session)
        await session.close()

    def _on_stream_drop(self, session: RtspSession, reason: str, abort: bool) -> None:
        log.info("session %s (%s/%s): %s", session.id, session.camera.name, session.stream, reason)
        self.drop(reason, abort)
