"""Query one ONVIF device (identity, profiles, stream/snapshot URIs) with onvif-zeep-async."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import zeep.exceptions


def _import_onvif_quietly() -> Any:
    """Import onvif without its import-time logging.basicConfig(level=INFO) side effect."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from onvif import client

    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    return client


_onvif = _import_onvif_quietly()
from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError  # noqa: E402
from onvif.util import is_auth_error, stringify_onvif_error  # noqa: E402

logger = logging.getLogger(__name__)

WSDL_DIR = str(Path(_onvif.__file__).parent / "wsdl")
"""The WSDLs bundled with onvif-zeep-async; nothing is ever fetched over the network."""

State = Literal["ok", "auth_failed", "unreachable", "error"]
_CREDENTIAL_QUERY_KEYS = {"user", "username", "pass", "password", "pwd", "passwd", "auth"}
_STREAM_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}


def strip_credentials(uri: str | None) -> str | None:
    """Remove `user:pass@` and credential-looking query parameters from a URI."""
    if not uri:
        return uri
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid uri>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    query = parts.query
    if query:
        kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() not in _CREDENTIAL_QUERY_KEYS]
        query = urlencode(kept)
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))


@dataclass
class ProfileInfo:
    """One media profile as the device reports it."""

    token: str
    name: str | None
    encoding: str | None
    width: int | None
    height: int | None
    fps: float | None
    stream_uri: str | None


@dataclass
class DiscoveredDevice:
    """What discovery learned about one ONVIF device; `state` says how far it got."""

    xaddr: str
    host: str
    port: int
    endpoint: str | None = None
    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    profiles: list[ProfileInfo] = field(default_factory=list)
    main_uri: str | None = None
    sub_uri: str | None = None
    snapshot_uri: str | None = None
    state: State = "error"
    error: str | None = None
    username: str | None = None
    """The user name that was tried (never the password)."""


def parse_target(target: str) -> tuple[str, str, int]:
    """Turn an xaddr URL, `host:port` or bare `host` into (device xaddr, host, port)."""
    text = target.strip()
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an ONVIF device address: {strip_credentials(target)!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname
    netloc_host = f"[{host}]" if ":" in host else host
    path = parts.path if parts.path not in ("", "/") else "/onvif/device_service"
    return urlunsplit((parts.scheme, f"{netloc_host}:{port}", path, parts.query, "")), host, port


class _Camera(_onvif.ONVIFCamera):
    """ONVIFCamera that talks to the given device xaddr instead of assuming /onvif/device_service."""

    def __init__(self, device_xaddr: str, *args: Any, **kwargs: Any) -> None:
        # ONVIFCamera.__init__ deletes http(s)_proxy from os.environ; keep the process environment intact.
        saved = {k: os.environ[k] for k in ("http_proxy", "https_proxy") if k in os.environ}
        try:
            super().__init__(*args, **kwargs)
        finally:
            os.environ.update(saved)
        self._device_xaddr = device_xaddr

    def get_definition(self, name: str, port_type: str | None = None) -> tuple[str, str, str]:
        xaddr, wsdl, binding = super().get_definition(name, port_type)
        if name == "devicemgmt":
            xaddr = self._device_xaddr
        return xaddr, wsdl, binding


def _value(obj: Any, *path: str) -> Any:
    for key in path:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return obj


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _classify(exc: BaseException) -> tuple[State, str]:
    """Map an exception from onvif/zeep/aiohttp to a discovery state and a safe message."""
    cause = exc.__cause__ if isinstance(exc, ONVIFError) and exc.__cause__ is not None else exc
    if isinstance(exc, ONVIFAuthError):
        return "auth_failed", "authentication failed"
    if isinstance(cause, zeep.exceptions.Fault):
        if is_auth_error(cause):
            return "auth_failed", f"authentication failed: {stringify_onvif_error(cause)}"
        return "error", f"SOAP fault: {stringify_onvif_error(cause)}"
    if isinstance(cause, zeep.exceptions.TransportError):
        if cause.status_code in (401, 403):
            return "auth_failed", f"authentication failed (HTTP {cause.status_code})"
        return "error", f"HTTP {cause.status_code}"
    if isinstance(cause, (TimeoutError, asyncio.TimeoutError, ONVIFTimeoutError)):
        return "unreachable", "timed out"
    if isinstance(cause, (aiohttp.ClientConnectorError, aiohttp.ServerTimeoutError, ConnectionError)):
        return "unreachable", f"cannot connect: {cause.__class__.__name__}"
    if isinstance(cause, aiohttp.ClientError):
        return "error", f"HTTP client error: {cause.__class__.__name__}"
    if isinstance(cause, OSError):
        return "unreachable", f"cannot connect: {cause.strerror or cause.__class__.__name__}"
    return "error", f"{cause.__class__.__name__}: {cause}"


async def _fill(cam: _Camera, result: DiscoveredDevice) -> None:
    await cam.update_xaddrs()
    devicemgmt = await cam.create_devicemgmt_service()
    info = await devicemgmt.GetDeviceInformation()
    result.manufacturer = _value(info, "Manufacturer")
    result.model = _value(info, "Model")
    result.serial = _value(info, "SerialNumber")
    result.firmware = _value(info, "FirmwareVersion")
    media = await cam.create_media_service()
    for prof in await media.GetProfiles() or []:
        token = _value(prof, "token")
        if not token:
            continue
        enc = _value(prof, "VideoEncoderConfiguration")
        try:
            answer = await media.GetStreamUri({"StreamSetup": _STREAM_SETUP, "ProfileToken": token})
            uri = strip_credentials(_value(answer, "Uri"))
        except zeep.exceptions.Fault as fault:
            if is_auth_error(fault):
                raise
            logger.debug("%s: GetStreamUri(%s) failed: %s", result.host, token, stringify_onvif_error(fault))
            uri = None
        result.profiles.append(
            ProfileInfo(
                token=str(token),
                name=_value(prof, "Name"),
                encoding=_value(enc, "Encoding"),
                width=_as_int(_value(enc, "Resolution", "Width")),
                height=_as_int(_value(enc, "Resolution", "Height")),
                fps=_value(enc, "RateControl", "FrameRateLimit"),
                stream_uri=uri,
            )
        )
    with_uri = [p for p in result.profiles if p.stream_uri]
    if with_uri:
        by_size = sorted(with_uri, key=lambda p: (p.width or 0) * (p.height or 0))
        result.main_uri = by_size[-1].stream_uri
        result.sub_uri = by_size[0].stream_uri if len(by_size) > 1 else None
        main_token = by_size[-1].token
        try:
            snap = await media.GetSnapshotUri({"ProfileToken": main_token})
            result.snapshot_uri = strip_credentials(_value(snap, "Uri"))
        except zeep.exceptions.Fault as fault:
            logger.debug("%s: GetSnapshotUri failed: %s", result.host, stringify_onvif_error(fault))


async def query_device(
    target: str,
    username: str,
    password: str,
    timeout: float = 10.0,
    *,
    endpoint: str | None = None,
    name: str | None = None,
) -> DiscoveredDevice:
    """Ask one device for its identity, profiles and stream/snapshot URIs.

    `target` is a device service URL (from WS-Discovery XAddrs), `host:port`
    or a bare host. Never raises for device problems: the outcome is in
    `state` ("ok", "auth_failed", "unreachable", "error") and `error`. URIs
    are stored with any embedded credentials removed.
    """
    xaddr, host, port = parse_target(target)
    result = DiscoveredDevice(xaddr=xaddr, host=host, port=port, endpoint=endpoint, name=name, username=username)
    cam = _Camera(xaddr, host, port, username, password, wsdl_dir=WSDL_DIR, no_cache=True, adjust_time=True)
    try:
        async with asyncio.timeout(timeout):
            await _fill(cam, result)
        result.state, result.error = ("ok", None) if result.main_uri else ("error", "no usable stream profile")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified, never propagated
        result.state, result.error = _classify(exc)
        logger.debug("%s:%d: query failed: %s (%s)", host, port, result.state, result.error)
    finally:
        try:
            await cam.close()
        except Exception:  # closing must not mask the result
            logger.debug("%s:%d: error while closing", host, port, exc_info=True)
    return result
