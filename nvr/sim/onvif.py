"""A simulated ONVIF camera: device + media services and snapshots over one aiohttp server."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Self
from urllib.parse import quote

from aiohttp import web

from nvr.sim.onvif_responses import (
    DEVICE_OPS,
    MEDIA_OPS,
    UNAUTHENTICATED_OPS,
    DeviceInfo,
    DeviceView,
    StreamProfile,
)
from nvr.sim.onvif_snapshot import color_bars_jpeg
from nvr.sim.onvif_soap import (
    ENV,
    NS_TDS,
    NS_TRT,
    SOAP_CONTENT_TYPE,
    SoapFault,
    UsernameTokenChecker,
    envelope_xml,
    fault_xml,
    parse_envelope,
)

__all__ = ["DeviceInfo", "OnvifDevice", "StreamProfile"]

logger = logging.getLogger(__name__)

DEVICE_PATH = "/onvif/device_service"
MEDIA_PATH = "/onvif/media_service"
SNAPSHOT_PATH = "/onvif/snapshot"

# WS-Discovery Types every simulated camera advertises (prefix, namespace, local name).
DISCOVERY_TYPES = (
    ("dn", "http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter"),
    ("tds", NS_TDS, "Device"),
)


class OnvifDevice:
    """One simulated ONVIF camera with its own HTTP server on `host:port`.

    Device service at /onvif/device_service, media at /onvif/media_service,
    JPEG snapshots at /onvif/snapshot/<profile>.jpg. Every SOAP operation but
    GetSystemDateAndTime needs a WS-Security UsernameToken PasswordDigest.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        username: str,
        password: str,
        rtsp_main_url: str,
        rtsp_sub_url: str,
        info: DeviceInfo | None = None,
        snapshot: Callable[[], bytes] | None = None,
        *,
        location: str = "sim",
        main_size: tuple[int, int] = (1280, 720),
        sub_size: tuple[int, int] = (640, 360),
        fps: int = 25,
        endpoint_uuid: str | None = None,
        max_clock_skew_s: float = 300.0,
    ) -> None:
        self.name = name
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self.info = info or DeviceInfo()
        self.location = location
        self._snapshot = snapshot
        self._auth = UsernameTokenChecker(username, password, max_skew_s=max_clock_skew_s)
        self._profiles = (
            StreamProfile("main", "MainStream", *main_size, fps, 2048, rtsp_main_url),
            StreamProfile("sub", "SubStream", *sub_size, fps, 512, rtsp_sub_url),
        )
        self.endpoint_uuid = endpoint_uuid or uuid.uuid5(uuid.NAMESPACE_URL, f"nvr-sim:{name}:{self.info.serial}").urn
        self._jpeg_cache: dict[str, bytes] = {}
        self._runner: web.AppRunner | None = None
        self._view: DeviceView | None = None

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Start serving; afterwards `port` and `xaddr` are known."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=256 * 1024)
        app.router.add_post(DEVICE_PATH, self._handle_device)
        app.router.add_post(MEDIA_PATH, self._handle_media)
        app.router.add_get(SNAPSHOT_PATH + "/{token}.jpg", self._handle_snapshot)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        base = f"http://{self.host}:{self._port}"
        self._view = DeviceView(
            info=self.info,
            device_xaddr=base + DEVICE_PATH,
            media_xaddr=base + MEDIA_PATH,
            snapshot_base=base + SNAPSHOT_PATH,
            scopes=tuple(self.scopes),
            profiles=self._profiles,
        )
        logger.info("sim camera %s: ONVIF at %s", self.name, self.xaddr)

    async def stop(self) -> None:
        """Stop the HTTP server (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- public facts ----------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (only after start())."""
        if self._port is None:
            raise RuntimeError("OnvifDevice not started")
        return self._port

    @property
    def xaddr(self) -> str:
        """Device service URL, e.g. http://127.0.0.1:PORT/onvif/device_service."""
        return f"http://{self.host}:{self.port}{DEVICE_PATH}"

    @property
    def scopes(self) -> list[str]:
        """ONVIF scope URIs, as announced over WS-Discovery and GetScopes."""
        base = "onvif://www.onvif.org/"
        return [
            base + "type/video_encoder",
            base + "type/Network_Video_Transmitter",
            base + "Profile/Streaming",
            base + "name/" + quote(self.name, safe=""),
            base + "hardware/" + quote(self.info.model, safe=""),
            base + "location/" + quote(self.location, safe="/"),
        ]

    @property
    def types(self) -> tuple[tuple[str, str, str], ...]:
        """WS-Discovery Types as (prefix, namespace, local name)."""
        return DISCOVERY_TYPES

    # -- HTTP handlers ---------------------------------------------------------

    async def _handle_device(self, request: web.Request) -> web.Response:
        return await self._handle_soap(request, NS_TDS, DEVICE_OPS)

    async def _handle_media(self, request: web.Request) -> web.Response:
        return await self._handle_soap(request, NS_TRT, MEDIA_OPS)

    async def _handle_soap(self, request: web.Request, namespace: str, ops: dict) -> web.Response:
        try:
            body = await request.read()
            header, op_elem = parse_envelope(body)
            ns, _, op_name = op_elem.tag[1:].partition("}")
            handler = ops.get(op_name) if ns == namespace else None
            if op_name not in UNAUTHENTICATED_OPS or handler is None:
                self._auth.check(header)
            if handler is None:
                raise SoapFault("Receiver", ("ActionNotSupported",), f"Unsupported operation {op_name}")
            assert self._view is not None
            payload = envelope_xml(ENV.Body(handler(self._view, op_elem)))
            return web.Response(body=payload, status=200, headers={"Content-Type": SOAP_CONTENT_TYPE})
        except SoapFault as fault:
            logger.debug("sim camera %s: fault %s/%s: %s", self.name, fault.code, fault.subcodes, fault.reason)
            return self._fault_response(fault)
        except asyncio.CancelledError:
            raise
        except Exception:  # never let a bad request take the server down
            logger.exception("sim camera %s: internal error", self.name)
            return self._fault_response(SoapFault("Receiver", (), "Internal error"))

    @staticmethod
    def _fault_response(fault: SoapFault) -> web.Response:
        return web.Response(body=fault_xml(fault), status=fault.status, headers={"Content-Type": SOAP_CONTENT_TYPE})

    async def _handle_snapshot(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        prof = next((p for p in self._profiles if p.token == token), None)
        if prof is None:
            raise web.HTTPNotFound()
        if self._snapshot is not None:
            data = await asyncio.to_thread(self._snapshot)
        else:
            data = self._jpeg_cache.get(token)
            if data is None:
                data = await asyncio.to_thread(color_bars_jpeg, prof.width, prof.height, self.name)
                self._jpeg_cache[token] = data
        return web.Response(body=data, content_type="image/jpeg")
