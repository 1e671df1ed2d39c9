"""A cheap RTSP reachability check: OPTIONS + DESCRIBE with Basic or Digest auth."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

USER_AGENT = "nvr-probe/0.1"


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one probe: ``state`` is online, auth_failed, offline or error."""

    state: str
    detail: str | None = None
    codecs: tuple[str, ...] = ()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _auth_params(header: str) -> dict[str, str]:
    return {k.lower(): v for k, v in re.findall(r'(\w+)\s*=\s*"?([^",]*)"?', header)}


def authorization(challenge: str, method: str, uri: str, user: str, password: str) -> str:
    """Build an ``Authorization`` header answering a WWW-Authenticate challenge."""
    scheme = challenge.split(None, 1)[0].lower()
    if scheme == "basic":
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return f"Basic {token}"
    params = _auth_params(challenge)
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if "auth" in params.get("qop", "").split(","):
        cnonce, nc = "0a4f113b", "00000001"
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
                f'response="{response}", qop=auth, nc={nc}, cnonce="{cnonce}"')
    response = _md5(f"{ha1}:{nonce}:{ha2}")
    return f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}"'


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str,
                   uri: str, cseq: int, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {cseq}", f"User-Agent: {USER_AGENT}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("RTSP/"):
        raise ValueError(f"not an RTSP response: {status_line[:60]!r}")
    resp_headers: dict[str, str] = {}
    for line in header_lines:
        if ":" in line:
            key, value = line.split(":", 1)
            resp_headers.setdefault(key.strip().lower(), value.strip())
    length = int(resp_headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return int(parts[1]), resp_headers, body


async def probe(url: str, user: str | None, password: str | None, timeout: float = 5.0) -> ProbeResult:
    """DESCRIBE ``url`` (auth if challenged) and report whether it would stream."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 554
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                return await _describe(reader, writer, url, user, password)
            finally:
                writer.close()
    except TimeoutError:
        return ProbeResult("offline", f"no answer within {timeout:g} s")
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return ProbeResult("offline", f"{host}:{port}: {reason}")
    except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        return ProbeResult("error", f"bad RTSP answer: {exc}")


async def _describe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, url: str,
                    user: str | None, password: str | None) -> ProbeResult:
    accept = {"Accept": "application/sdp"}
    status, headers, body = await _request(reader, writer, "DESCRIBE", url, 1, accept)
    if status == 401:
        challenge = headers.get("www-authenticate")
        if not challenge or user is None:
            return ProbeResult("auth_failed", "camera asks for credentials and none are configured")
        auth = authorization(challenge, "DESCRIBE", url, user, password or "")
        status, headers, body = await _request(reader, writer, "DESCRIBE", url, 2, {**accept, "Authorization": auth})
        if status == 401:
            return ProbeResult("auth_failed", "camera rejected the credentials")
    if status != 200:
        return ProbeResult("error", f"DESCRIBE answered {status}")
    codecs = tuple(m.split("/")[0] for m in re.findall(r"a=rtpmap:\d+ (\S+)", body.decode("latin-1")))
    return ProbeResult("online", None, codecs)
