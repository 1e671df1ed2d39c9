"""A fleet of simulated cameras: one RTSP server, one ONVIF device each, one WS-Discovery responder."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

from nvr.sim.faults import Faults
from nvr.sim.onvif import DeviceInfo, OnvifDevice
from nvr.sim.rtsp import RtspServer
from nvr.sim.wsdiscovery import WsDiscoveryResponder

log = logging.getLogger(__name__)

# (kelurahan, kecamatan, lat, lon): real places in Central/East/North Jakarta for demo data.
PLACES: tuple[tuple[str, str, float, float], ...] = (
    ("Menteng", "Menteng", -6.1967, 106.8331),
    ("Gambir", "Gambir", -6.1766, 106.8227),
    ("Kebon Melati", "Tanah Abang", -6.2006, 106.8143),
    ("Cempaka Putih Timur", "Cempaka Putih", -6.1786, 106.8712),
    ("Kampung Melayu", "Jatinegara", -6.2246, 106.8667),
    ("Pluit", "Penjaringan", -6.1161, 106.7905),
    ("Kuningan Timur", "Setiabudi", -6.2325, 106.8296),
    ("Grogol", "Grogol Petamburan", -6.1664, 106.7900),
)


@dataclass
class SimCamera:
    """One simulated camera and where to reach it."""

    name: str
    kelurahan: str
    kecamatan: str
    lat: float
    lon: float
    rtsp_main: str
    rtsp_sub: str
    onvif: OnvifDevice
    faults: Faults

    @property
    def onvif_port(self) -> int:
        return self.onvif.port


class SimFleet:
    """``async with SimFleet(4) as fleet:`` runs 4 cameras on loopback."""

    def __init__(
        self,
        count: int,
        host: str = "127.0.0.1",
        rtsp_port: int = 0,
        onvif_port_base: int = 0,
        discovery_port: int | None = 3702,
        username: str = "admin",
        password: str = "sim-password",
        prefix: str = "cam",
    ):
        if count < 1:
            raise ValueError("a fleet needs at least one camera")
        self.count, self.host = count, host
        self.username, self.password = username, password
        self.prefix = prefix
        self.rtsp = RtspServer(host=host, port=rtsp_port)
        self._onvif_port_base = onvif_port_base
        self._discovery_port = discovery_port
        self.discovery: WsDiscoveryResponder | None = None
        self.cameras: list[SimCamera] = []

    async def __aenter__(self) -> SimFleet:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        await self.rtsp.start()
        for i in range(self.count):
            name = f"{self.prefix}{i + 1:02d}"
            faults = self.rtsp.add_camera(name, username=self.username, password=self.password)
            main, sub = self.rtsp.url(name, "main"), self.rtsp.url(name, "sub")
            kel, kec, lat, lon = PLACES[i % len(PLACES)]
            device = OnvifDevice(
                name=name,
                host=self.host,
                port=self._onvif_port_base + i if self._onvif_port_base else 0,
                username=self.username,
                password=self.password,
                rtsp_main_url=main,
                rtsp_sub_url=sub,
                info=DeviceInfo(
                    manufacturer="nvr-sim",
                    model="SimCam 1",
                    firmware="0.1",
                    serial=f"SIM-{i + 1:04d}",
                    hardware_id="sim",
                ),
                location=kel,
            )
            await device.start()
            self.cameras.append(
                SimCamera(name, kel, kec, lat + i // len(PLACES) * 0.002, lon, main, sub, device, faults)
            )
        if self._discovery_port is not None:
            self.discovery = WsDiscoveryResponder(
                [c.onvif for c in self.cameras], interface=self.host, port=self._discovery_port
            )
            await self.discovery.start()

    async def stop(self) -> None:
        if self.discovery is not None:
            await self.discovery.stop()
        for cam in self.cameras:
            await cam.onvif.stop()
        await self.rtsp.stop()

    def camera(self, name: str) -> SimCamera:
        return next(c for c in self.cameras if c.name == name)

    def cameras_toml(self, password_env: str, onvif_only: set[str] | None = None) -> str:
        """``[[cameras]]`` tables for this fleet; cameras in ``onvif_only`` get no stream URLs."""
        out = []
        for cam in self.cameras:
            lines = [
                "[[cameras]]",
                f'name = "{cam.name}"',
                f'title = "{cam.kelurahan} {cam.name[-2:]}"',
                f'kelurahan = "{cam.kelurahan}"',
                f'kecamatan = "{cam.kecamatan}"',
                f"location = {{ lat = {cam.lat:.5f}, lon = {cam.lon:.5f} }}",
                f'onvif = {{ host = "{self.host}", port = {cam.onvif_port}, username = "{self.username}", '
                f'password = {{ env = "{password_env}" }} }}',
            ]
            if not onvif_only or cam.name not in onvif_only:
                lines.append(f'stream = {{ main = "{cam.rtsp_main}", sub = "{cam.rtsp_sub}" }}')
            out.append("\n".join(lines))
        return "\n\n".join(out) + "\n"


async def run_fleet(
    count: int,
    host: str,
    rtsp_port: int,
    onvif_port_base: int,
    discovery_port: int,
    username: str,
    password: str,
    config_out: str | None,
) -> int:
    """``nvr sim``: serve until SIGINT/SIGTERM, printing where each camera is."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SimFleet(count, host, rtsp_port, onvif_port_base, discovery_port, username, password) as fleet:
        print(f"{'camera':<8} {'RTSP main':<40} ONVIF")
        for cam in fleet.cameras:
            print(f"{cam.name:<8} {cam.rtsp_main:<40} {cam.onvif.xaddr}")
        print(f"WS-Discovery on {host}:{discovery_port}; user {username!r}. Ctrl-C stops.")
        if config_out:
            Path(config_out).write_text(fleet.cameras_toml("NVR_SIM_PASSWORD"), encoding="utf-8")
            print(f"wrote {config_out} (set NVR_SIM_PASSWORD to the cameras' password)")
        await stop.wait()
    return 0
