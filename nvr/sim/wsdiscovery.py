"""WS-Discovery (2005/04) responder that announces simulated ONVIF cameras on one interface."""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import socket
import sys
import time
import uuid
from typing import TYPE_CHECKING, Self
from xml.sax.saxutils import escape

from lxml import etree

if TYPE_CHECKING:
    from nvr.sim.onvif import OnvifDevice

logger = logging.getLogger(__name__)

MULTICAST_GROUP = "239.255.255.250"
NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
ACTION_PROBE = NS_WSD + "/Probe"
ACTION_PROBE_MATCHES = NS_WSD + "/ProbeMatches"
ACTION_HELLO = NS_WSD + "/Hello"
ACTION_BYE = NS_WSD + "/Bye"
ANONYMOUS = NS_WSA + "/role/anonymous"
DISCOVERY_URN = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
MATCH_RFC3986 = NS_WSD + "/rfc2396"  # the 2005/04 spec calls it rfc2396
MATCH_RFC3986_ALIASES = {MATCH_RFC3986, NS_WSD + "/rfc3986", None}
MATCH_STRCMP = NS_WSD + "/strcmp0"
_IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True
)


def _envelope(action: str, header_extra: str, body: str, device: OnvifDevice | None = None) -> bytes:
    prefixes = "".join(f' xmlns:{p}="{ns}"' for p, ns, _ in (device.types if device else ()))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{NS_SOAP}" xmlns:a="{NS_WSA}" xmlns:d="{NS_WSD}"{prefixes}>'
        "<s:Header>"
        f"<a:Action>{action}</a:Action>"
        f"<a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID>"
        f"{header_extra}"
        "</s:Header>"
        f"<s:Body>{body}</s:Body>"
        "</s:Envelope>"
    ).encode()


def _endpoint_body(device: OnvifDevice, with_xaddrs: bool = True) -> str:
    types = " ".join(f"{p}:{local}" for p, _, local in device.types)
    parts = [
        f"<a:EndpointReference><a:Address>{escape(device.endpoint_uuid)}</a:Address></a:EndpointReference>",
        f"<d:Types>{types}</d:Types>",
        f"<d:Scopes>{escape(' '.join(device.scopes))}</d:Scopes>",
    ]
    if with_xaddrs:
        parts.append(f"<d:XAddrs>{escape(device.xaddr)}</d:XAddrs>")
    parts.append("<d:MetadataVersion>1</d:MetadataVersion>")
    return "".join(parts)


def probe_matches_xml(device: OnvifDevice, relates_to: str, sequence: tuple[int, int]) -> bytes:
    """The ProbeMatches datagram answering the probe `relates_to` for one device."""
    header = (
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>"
        f"<a:To>{ANONYMOUS}</a:To>"
        f'<d:AppSequence InstanceId="{sequence[0]}" MessageNumber="{sequence[1]}"/>'
    )
    body = f"<d:ProbeMatches><d:ProbeMatch>{_endpoint_body(device)}</d:ProbeMatch></d:ProbeMatches>"
    return _envelope(ACTION_PROBE_MATCHES, header, body, device)


def _announce_xml(kind: str, device: OnvifDevice, sequence: tuple[int, int]) -> bytes:
    header = f'<a:To>{DISCOVERY_URN}</a:To><d:AppSequence InstanceId="{sequence[0]}" MessageNumber="{sequence[1]}"/>'
    body = f"<d:{kind}>{_endpoint_body(device, with_xaddrs=kind == 'Hello')}</d:{kind}>"
    return _envelope(NS_WSD + "/" + kind, header, body, device)


def _scope_matches(wanted: str, offered: list[str], match_by: str | None) -> bool:
    if match_by == MATCH_STRCMP:
        return wanted in offered
    if match_by not in MATCH_RFC3986_ALIASES:
        return False
    want = wanted.rstrip("/").split("/")
    return any(off.rstrip("/").split("/")[: len(want)] == want for off in offered)


class _Probe:
    """The parts of a Probe the responder needs."""

    def __init__(self, message_id: str, types: list[tuple[str | None, str]], scopes: list[str], match_by: str | None):
        self.message_id = message_id
        self.types = types
        self.scopes = scopes
        self.match_by = match_by

    @classmethod
    def parse(cls, data: bytes) -> _Probe | None:
        """Parse a Probe datagram; None for anything else (garbage included)."""
        try:
            root = etree.fromstring(data, parser=_PARSER)
        except (etree.XMLSyntaxError, ValueError):
            return None
        if not isinstance(root.tag, str) or root.tag != f"{{{NS_SOAP}}}Envelope":
            return None
        action = (root.findtext(f"{{{NS_SOAP}}}Header/{{{NS_WSA}}}Action") or "").strip()
        message_id = (root.findtext(f"{{{NS_SOAP}}}Header/{{{NS_WSA}}}MessageID") or "").strip()
        probe = root.find(f"{{{NS_SOAP}}}Body/{{{NS_WSD}}}Probe")
        if action != ACTION_PROBE or probe is None or not message_id:
            return None
        types: list[tuple[str | None, str]] = []
        types_elem = probe.find(f"{{{NS_WSD}}}Types")
        if types_elem is not None and types_elem.text:
            for token in types_elem.text.split():
                prefix, _, local = token.rpartition(":")
                types.append((types_elem.nsmap.get(prefix or None), local))
        scopes_elem = probe.find(f"{{{NS_WSD}}}Scopes")
        scopes = (scopes_elem.text or "").split() if scopes_elem is not None else []
        match_by = scopes_elem.get("MatchBy") if scopes_elem is not None else None
        return cls(message_id, types, scopes, match_by)

    def matches(self, device: OnvifDevice) -> bool:
        """True when every probed type and scope is offered by `device`."""
        offered = {(ns, local) for _, ns, local in device.types}
        for ns, local in self.types:
            if ns is None and not any(local == off_local for _, off_local in offered):
                return False
            if ns is not None and (ns, local) not in offered:
                return False
        return all(_scope_matches(s, device.scopes, self.match_by) for s in self.scopes)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, responder: WsDiscoveryResponder) -> None:
        self._responder = responder

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self._responder._on_datagram(data, addr)
        except Exception:  # a responder must survive anything the network sends
            logger.exception("ws-discovery responder: error handling datagram from %s", addr)

    def error_received(self, exc: Exception) -> None:
        logger.debug("ws-discovery responder: socket error %s", exc)


class WsDiscoveryResponder:
    """Answers WS-Discovery Probes for a set of simulated ONVIF devices.

    Listens for multicast probes on 239.255.255.250:`port`, joined on
    `interface` only, and for unicast probes on `interface`:`port`. Replies go
    unicast to the prober from `interface`; Hello/Bye go to the group with the
    outgoing multicast interface pinned to `interface`, TTL 1.
    """

    def __init__(self, devices: list[OnvifDevice], interface: str = "127.0.0.1", port: int = 3702) -> None:
        self._devices: list[OnvifDevice] = list(devices)
        self.interface = str(ipaddress.IPv4Address(interface))
        self._requested_port = port
        self._port: int | None = None
        self._unicast: asyncio.DatagramTransport | None = None
        self._multicast: asyncio.DatagramTransport | None = None
        self._recent: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._instance_id = int(time.time())  # AppSequence InstanceId must grow across restarts
        self._message_number = 0
        self._loopback_only = ipaddress.IPv4Address(self.interface).is_loopback

    @property
    def port(self) -> int:
        """The UDP port probes are answered on (known after start())."""
        if self._port is None:
            raise RuntimeError("WsDiscoveryResponder not started")
        return self._port

    @property
    def devices(self) -> list[OnvifDevice]:
        """The devices currently announced."""
        return list(self._devices)

    async def start(self) -> None:
        """Bind the sockets and start answering; announces each device with Hello."""
        if self._unicast is not None:
            return
        loop = asyncio.get_running_loop()
        usock = self._socket()
        usock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(self.interface))
        usock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        usock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        usock.bind((self.interface, self._requested_port))
        self._port = usock.getsockname()[1]
        msock = self._socket()
        try:
            if sys.platform.startswith("linux"):
                # Only deliver groups this socket joined (on our interface), not every group on the host.
                msock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
            msock.bind((MULTICAST_GROUP, self._port))
            mreq = socket.inet_aton(MULTICAST_GROUP) + socket.inet_aton(self.interface)
            msock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        except OSError:
            usock.close()
            msock.close()
            raise
        self._unicast, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=usock)
        self._multicast, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=msock)
        logger.info("ws-discovery responder on %s:%d (%d devices)", self.interface, self._port, len(self._devices))
        for device in self._devices:
            self._announce("Hello", device)

    async def stop(self) -> None:
        """Say Bye for each device and close the sockets (idempotent)."""
        if self._unicast is None:
            return
        for device in self._devices:
            self._announce("Bye", device)
        for transport in (self._unicast, self._multicast):
            if transport is not None:
                transport.close()
        self._unicast = self._multicast = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def add(self, device: OnvifDevice) -> None:
        """Start answering for `device` (sends Hello when running)."""
        if device not in self._devices:
            self._devices.append(device)
            if self._unicast is not None:
                self._announce("Hello", device)

    def remove(self, device: OnvifDevice) -> None:
        """Stop answering for `device` (sends Bye when running)."""
        if device in self._devices:
            self._devices.remove(device)
            if self._unicast is not None:
                self._announce("Bye", device)

    # -- internals -------------------------------------------------------------

    @staticmethod
    def _socket() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setblocking(False)
        return sock

    def _next_sequence(self) -> tuple[int, int]:
        self._message_number += 1
        return self._instance_id, self._message_number

    def _announce(self, kind: str, device: OnvifDevice) -> None:
        if self._unicast is None:
            return
        try:
            self._unicast.sendto(_announce_xml(kind, device, self._next_sequence()), (MULTICAST_GROUP, self.port))
        except (OSError, RuntimeError) as exc:
            logger.debug("ws-discovery responder: %s for %s not sent: %s", kind, device.name, exc)

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._loopback_only and not ipaddress.IPv4Address(addr[0]).is_loopback:
            return  # never answer off-box when pinned to loopback
        probe = _Probe.parse(data)
        if probe is None:
            return
        if probe.message_id in self._recent:
            return  # the same probe via multicast and unicast, or a retransmission
        self._recent[probe.message_id] = None
        while len(self._recent) > 256:
            self._recent.popitem(last=False)
        if self._unicast is None:
            return
        for device in list(self._devices):
            try:
                device.port  # noqa: B018 - skip devices that are not serving yet
            except RuntimeError:
                continue
            if probe.matches(device):
                self._unicast.sendto(probe_matches_xml(device, probe.message_id, self._next_sequence()), addr)
