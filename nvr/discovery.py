"""Camera discovery: WS-Discovery probe, then ONVIF queries, then a table or a config snippet."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable, Sequence

from nvr.onvif_client import DiscoveredDevice, query_device, strip_credentials
from nvr.wsdiscovery import DEFAULT_PORT, ProbeMatch, probe

__all__ = ["DiscoveredDevice", "ProbeMatch", "discover", "format_table", "format_toml"]

logger = logging.getLogger(__name__)

Credentials = tuple[str, str]
CredentialSource = Credentials | Callable[[ProbeMatch], Credentials]
DEFAULT_PASSWORD_ENV = "NVR_CAMERA_PASSWORD"


async def discover(
    interface: str,
    port: int = DEFAULT_PORT,
    multicast: bool = True,
    unicast_targets: Iterable[str] = (),
    *,
    credentials: CredentialSource,
    timeout: float = 3.0,
    query_timeout: float = 10.0,
    concurrency: int = 16,
) -> list[DiscoveredDevice]:
    """Probe for ONVIF devices from `interface`, then query each one.

    `credentials` is a (username, password) pair for every device or a callable
    choosing one per ProbeMatch. At most `concurrency` devices are queried at
    once, each within `query_timeout` seconds. Results are sorted by name, host
    and port; per-device failures are reported in `state`, never raised.
    """
    matches = await probe(interface, port=port, multicast=multicast, unicast_targets=unicast_targets, timeout=timeout)
    logger.info("discovery: %d device(s) answered the probe", len(matches))
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(match: ProbeMatch) -> DiscoveredDevice:
        xaddr = match.best_xaddr()
        if xaddr is None:
            host, dev_port = match.source or ("", 0)
            return DiscoveredDevice(
                xaddr="",
                host=host,
                port=dev_port,
                endpoint=match.endpoint,
                name=match.name,
                state="error",
                error="device announced no XAddrs",
            )
        user, password = credentials(match) if callable(credentials) else credentials
        async with gate:
            return await query_device(xaddr, user, password, query_timeout, endpoint=match.endpoint, name=match.name)

    results = await asyncio.gather(*(one(m) for m in matches))
    return sorted(results, key=lambda d: (d.name or "", d.host, d.port))


def _cell(value: object) -> str:
    text = "-" if value in (None, "") else str(value)
    return " ".join(text.split())  # no newlines/tabs from devices in a table


def format_table(devices: Sequence[DiscoveredDevice]) -> str:
    """An aligned text table: name, host:port, maker, model, serial, state, main URI."""
    header = ("NAME", "HOST:PORT", "MAKER", "MODEL", "SERIAL", "STATE", "MAIN URI")
    rows = [
        tuple(
            _cell(v)
            for v in (
                d.name,
                f"{d.host}:{d.port}",
                d.manufacturer,
                d.model,
                d.serial,
                d.state,
                strip_credentials(d.main_uri),
            )
        )
        for d in devices
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    return "\n".join(lines) + "\n"


def _toml_str(value: str) -> str:
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _fallback_name(device: DiscoveredDevice) -> str:
    base = device.model or "camera"
    slug = re.sub(r"[^a-z0-9]+", "-", f"{base}-{device.host}-{device.port}".lower()).strip("-")
    return slug or "camera"


def format_toml(
    devices: Sequence[DiscoveredDevice],
    username_env: str | None = None,
    *,
    password_env: str = DEFAULT_PASSWORD_ENV,
) -> str:
    """A `[[cameras]]` TOML snippet to paste into the config.

    Passwords are never written: each camera gets `password = { env = "<password_env>" }`.
    With `username_env`, the user name becomes an env reference as well.
    Devices that are not "ok" are emitted commented out, with their state.
    """
    blocks: list[str] = []
    used: set[str] = set()
    for dev in devices:
        name = dev.name or _fallback_name(dev)
        unique, n = name, 2
        while unique in used:
            unique, n = f"{name}-{n}", n + 1
        used.add(unique)
        user = f"{{ env = {_toml_str(username_env)} }}" if username_env else _toml_str(dev.username or "")
        lines = [
            "[[cameras]]",
            f"name = {_toml_str(unique)}",
            "",
            "[cameras.onvif]",
            f"host = {_toml_str(dev.host)}",
            f"port = {int(dev.port)}",
            f"username = {user}",
            f"password = {{ env = {_toml_str(password_env)} }}",
        ]
        main, sub = strip_credentials(dev.main_uri), strip_credentials(dev.sub_uri)
        if main or sub:
            lines += ["", "[cameras.stream]"]
            lines += [f"main = {_toml_str(main)}"] if main else []
            lines += [f"sub = {_toml_str(sub)}"] if sub else []
        if dev.state == "ok":
            blocks.append("\n".join(lines))
        else:
            reason = " ".join(f"{dev.state}: {dev.error or ''}".split())
            blocks.append("\n".join([f"# {reason}", *(f"# {line}" if line else "#" for line in lines)]))
    return "\n\n".join(blocks) + ("\n" if blocks else "")
