"""A cheap RTSP reachability check: DESCRIBE with Basic or Digest auth (the recorder's RTSP client)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from nvr.rtsp_auth_client import authorization
from nvr.rtsp_client import RtspClient
from nvr.rtsp_errors import RtspProtocolError, RtspStatusError
from nvr.sdp_parse import SdpError, parse_sdp

__all__ = ["ProbeResult", "authorization", "probe"]


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one probe: ``state`` is online, auth_failed, offline or error."""

    state: str
    detail: str | None = None
    codecs: tuple[str, ...] = ()


async def probe(url: str, user: str | None, password: str | None, timeout: float = 5.0) -> ProbeResult:
    """DESCRIBE ``url`` (auth if challenged) and report whether it would stream."""
    try:
        client = RtspClient(url, user, password, request_timeout=timeout)
    except ValueError as exc:
        return ProbeResult("error", str(exc))
    host, port = client.host, client.port
    try:
        async with asyncio.timeout(timeout):
            await client.connect()
            response = await client.request("DESCRIBE", client.url, {"Accept": "application/sdp"})
    except RtspStatusError as exc:
        if exc.status == 401:
            if user is None:
                return ProbeResult("auth_failed", "camera asks for credentials and none are configured")
            return ProbeResult("auth_failed", "camera rejected the credentials")
        if exc.status == 403:
            return ProbeResult("auth_failed", exc.detail)
        return ProbeResult("error", f"DESCRIBE answered {exc.status}")
    except TimeoutError:
        return ProbeResult("offline", f"no answer within {timeout:g} s")
    except RtspProtocolError as exc:
        return ProbeResult("error", f"bad RTSP answer: not an RTSP response ({exc.detail})")
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
        return ProbeResult("offline", f"{host}:{port}: {reason}")
    finally:
        client.abort()
    try:
        sdp = parse_sdp(response.body.decode("utf-8", "replace"), client.url)
    except SdpError as exc:
        return ProbeResult("error", f"bad session description: {exc}")
    return ProbeResult("online", None, tuple(m.encoding for m in sdp.media if m.encoding))
