"""Asyncio RTSP 1.0 server that serves many simulated cameras from one loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from dataclasses import dataclass
from types import TracebackType

from nvr.sim.camera import ALTERNATE_VARIANT, STREAMS, Camera, validate_camera_name
from nvr.sim.clip import DEFAULT_SPEC, ClipSpec, load_clip_async
from nvr.sim.faults import Faults
from nvr.sim.media import MediaSource, StreamSettings
from nvr.sim.rtsp_auth import Credentials, DigestAuthenticator
from nvr.sim.rtsp_connection import RtspConnection, RtspSession

log = logging.getLogger(__name__)


class _UdpListener(asyncio.DatagramProtocol):
    """Receives client RTCP / NAT punch packets on the server ports; counts them as keep-alive."""

    def __init__(self, server: RtspServer) -> None:
        self._server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._server.touch_udp_peer(addr)


@dataclass
class UdpPorts:
    """The server's shared RTP/RTCP UDP sockets (an even/odd port pair on the loopback address)."""

    rtp: asyncio.DatagramTransport
    rtcp: asyncio.DatagramTransport
    rtp_port: int
    rtcp_port: int

    def close(self) -> None:
        """Close both sockets."""
        self.rtp.close()
        self.rtcp.close()


async def _open_udp_pair(server: RtspServer, host: str, attempts: int = 50) -> UdpPorts:
    loop = asyncio.get_running_loop()
    for _ in range(attempts):
        rtp, _ = await loop.create_datagram_endpoint(lambda: _UdpListener(server), local_addr=(host, 0))
        port = rtp.get_extra_info("sockname")[1]
        if port % 2 == 0 and port < 65535:
            try:
                rtcp, _ = await loop.create_datagram_endpoint(lambda: _UdpListener(server), local_addr=(host, port + 1))
            except OSError:
                rtp.close()
                continue
            return UdpPorts(rtp, rtcp, port, port + 1)
        rtp.close()
    raise OSError("could not bind an even/odd UDP port pair for RTP/RTCP")


class RtspServer:
    """Serves ``rtsp://127.0.0.1:PORT/<camera>/main`` and ``/<camera>/sub`` for simulated cameras.

    All sessions share one in-memory copy of each clip. Fault switches per
    camera (:class:`~nvr.sim.faults.Faults`) are read live.

    Example::

        async with RtspServer(port=0) as server:
            server.add_camera("cam01", username="admin", password="secret")
            url = server.url("cam01", "main")
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        realm: str = "nvr-sim",
        session_timeout: float = 60.0,
        enable_udp: bool = True,
        allow_basic: bool = True,
        settings: StreamSettings | None = None,
        clip_spec: ClipSpec = DEFAULT_SPEC,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the simulator only listens on loopback, not {host!r}")
        self.host = host
        self._requested_port = port
        self.port = 0
        self.session_timeout = session_timeout
        self.enable_udp = enable_udp
        self.settings = settings or StreamSettings()
        self.clip_spec = clip_spec
        self.authenticator = DigestAuthenticator(realm=realm, allow_basic=allow_basic)
        self.udp: UdpPorts | None = None
        self._cameras: dict[str, Camera] = {}
        self._sources: dict[str, MediaSource] = {}
        self._sessions: dict[str, RtspSession] = {}
        self._connections: dict[RtspConnection, asyncio.Task[None]] = {}
        self._server: asyncio.Server | None = None
        self._watchdog: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Load the clips (rendering them in a thread on first use) and start listening."""
        if self._server is not None:
            raise RuntimeError("server already started")
        for variant in (*STREAMS.values(), ALTERNATE_VARIANT):
            clip = await load_clip_async(variant, self.clip_spec)
            self._sources[variant] = await asyncio.to_thread(MediaSource.from_clip, clip, self.settings.max_payload)
        self._server = await asyncio.start_server(self._accept, self.host, self._requested_port)
        self.port = self._server.sockets[0].getsockname()[1]
        if self.enable_udp:
            self.udp = await _open_udp_pair(self, self.host)
        self._watchdog = asyncio.get_running_loop().create_task(self._expire_sessions(), name="rtsp-session-timeout")
        log.info(
            "RTSP simulator listening on rtsp://%s:%d/ (udp %s)",
            self.host,
            self.port,
            self.udp and f"{self.udp.rtp_port}-{self.udp.rtcp_port}",
        )

    async def stop(self) -> None:
        """Stop listening, close every connection and session."""
        if self._server is not None:
            self._server.close()
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        connections = list(self._connections.items())
        for conn, _ in connections:
            conn.drop("server stopping", abort=True)
        for conn, task in connections:
            await conn.close()
            task.cancel()
        if connections:
            await asyncio.gather(*(t for _, t in connections), return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
        if self.udp is not None:
            self.udp.close()
            self.udp = None
        log.info("RTSP simulator stopped")

    async def __aenter__(self) -> RtspServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ cameras
    def add_camera(self, name: str, username: str | None = None, password: str | None = None) -> Faults:
        """Serve a camera at ``/<name>/main`` and ``/<name>/sub``; returns its live fault switches.

        Without ``password`` the camera accepts every client.
        """
        validate_camera_name(name)
        if name in self._cameras:
            raise ValueError(f"camera {name!r} already exists")
        credentials = Credentials(username or "", password) if password is not None else None
        camera = Camera(name, credentials)
        self._cameras[name] = camera
        return camera.faults

    def remove_camera(self, name: str) -> None:
        """Stop serving a camera and drop its connections."""
        self._cameras.pop(name)
        for session in list(self._sessions.values()):
            if session.camera.name == name:
                session.connection.drop("camera removed", abort=True)

    def faults(self, name: str) -> Faults:
        """Fault switches of camera ``name``."""
        try:
            return self._cameras[name].faults
        except KeyError:
            raise KeyError(f"no camera named {name!r}") from None

    def cameras(self) -> list[str]:
        """Names of the served cameras."""
        return list(self._cameras)

    def get_camera(self, name: str) -> Camera | None:
        """Camera by name, or None."""
        return self._cameras.get(name)

    def url(self, name: str, stream: str = "main") -> str:
        """``rtsp://HOST:PORT/<name>/<stream>`` (no credentials in it)."""
        if stream not in STREAMS:
            raise ValueError(f"unknown stream {stream!r}; use one of {sorted(STREAMS)}")
        if self.port == 0:
            raise RuntimeError("server not started")
        return f"rtsp://{self.host}:{self.port}/{name}/{stream}"

    # ------------------------------------------------------------------ sessions
    def source(self, stream: str) -> MediaSource:
        """The shared media for URL stream ``stream`` ("main" or "sub")."""
        return self._sources[STREAMS[stream]]

    def alternate_source(self) -> MediaSource:
        """The other-resolution media used by the ``resolution_change`` fault."""
        return self._sources[ALTERNATE_VARIANT]

    def register_session(self, session: RtspSession) -> None:
        """Make a session findable by id."""
        self._sessions[session.id] = session

    def unregister_session(self, session: RtspSession) -> None:
        """Forget a session."""
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]

    def get_session(self, session_id: str) -> RtspSession | None:
        """Session by id, or None."""
        return self._sessions.get(session_id)

    def active_sessions(self, camera: str | None = None) -> int:
        """Number of sessions (optionally of one camera) that are sending media."""
        return sum(
            1 for s in self._sessions.values() if s.streamer.playing and (camera is None or s.camera.name == camera)
        )

    def touch_udp_peer(self, addr: tuple[str, int]) -> None:
        """Keep-alive from a UDP client (RTCP receiver report or punch packet)."""
        for session in self._sessions.values():
            if (
                session.udp_peer is not None
                and session.udp_peer[0] == addr[0]
                and addr[1] in (session.udp_peer[1], session.udp_peer[1] - 1)
            ):
                session.touch()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = RtspConnection(self, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._connections[connection] = task
        try:
            await connection.run()
        finally:
            self._connections.pop(connection, None)

    async def _expire_sessions(self) -> None:
        loop = asyncio.get_running_loop()
        interval = max(0.2, min(1.0, self.session_timeout / 4))
        while True:
            await asyncio.sleep(interval)
            deadline = loop.time() - self.session_timeout
            for session in [s for s in self._sessions.values() if s.last_activity < deadline]:
                log.info("session %s (%s/%s) timed out", session.id, session.camera.name, session.stream)
                session.connection.drop("session timeout")
                self.unregister_session(session)
                await session.close()
