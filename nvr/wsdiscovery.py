"""WS-Discovery client: send ONVIF Probes (multicast pinned to one interface, or unicast) and collect ProbeMatches."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from lxml import etree

logger = logging.getLogger(__name__)

MULTICAST_GROUP = "239.255.255.250"
DEFAULT_PORT = 3702
NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
ACTION_PROBE = NS_WSD + "/Probe"

MAX_SUBNET_PREFIX = 22  # refuse subnets bigger than a /22 (1024 addresses)
MAX_UNICAST_TARGETS = 4096  # and more than this many addresses in total
_SEND_BATCH = 64  # unicast sweep: datagrams sent between short pauses

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True
)
_SCOPE_PREFIX = "onvif://www.onvif.org/"


@dataclass
class ProbeMatch:
    """One device that answered a Probe."""

    endpoint: str
    """EndpointReference address, usually a stable urn:uuid."""
    xaddrs: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    metadata_version: int | None = None
    source: tuple[str, int] | None = None
    """(ip, port) the ProbeMatches datagram came from."""

    def scope_values(self, key: str) -> list[str]:
        """Values of onvif://www.onvif.org/<key>/<value> scopes, percent-decoded."""
        prefix = f"{_SCOPE_PREFIX}{key}/".lower()
        return [unquote(s[len(prefix) :]) for s in self.scopes if s.lower().startswith(prefix) and len(s) > len(prefix)]

    @property
    def name(self) -> str | None:
        """The onvif name scope, if any."""
        values = self.scope_values("name")
        return values[0] if values else None

    @property
    def location(self) -> str | None:
        """The onvif location scope, if any."""
        values = self.scope_values("location")
        return values[0] if values else None

    @property
    def hardware(self) -> str | None:
        """The onvif hardware scope (often the model), if any."""
        values = self.scope_values("hardware")
        return values[0] if values else None

    def best_xaddr(self) -> str | None:
        """The XAddr to use: one on the replying host if listed, else the first IPv4 one, else the first."""
        if not self.xaddrs:
            return None
        if self.source is not None:
            for xaddr in self.xaddrs:
                if urlsplit(xaddr).hostname == self.source[0]:
                    return xaddr
        for xaddr in self.xaddrs:
            try:
                ipaddress.IPv4Address(urlsplit(xaddr).hostname or "")
                return xaddr
            except ValueError:
                continue
        return self.xaddrs[0]


def probe_message(message_id: str, types: Iterable[str] = ("dn:NetworkVideoTransmitter",)) -> bytes:
    """Build a WS-Discovery 2005/04 Probe for the given `dn:`/`tds:` prefixed Types."""
    types_xml = " ".join(types)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{NS_SOAP}" xmlns:a="{NS_WSA}" xmlns:d="{NS_WSD}" xmlns:dn="{NS_DN}"'
        ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
        "<s:Header>"
        f'<a:Action s:mustUnderstand="1">{ACTION_PROBE}</a:Action>'
        f"<a:MessageID>{message_id}</a:MessageID>"
        f"<a:ReplyTo><a:Address>{NS_WSA}/role/anonymous</a:Address></a:ReplyTo>"
        '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
        "</s:Header>"
        f"<s:Body><d:Probe>{'<d:Types>' + types_xml + '</d:Types>' if types_xml else ''}</d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode()


def _local(elem: etree._Element) -> str:
    return etree.QName(elem).localname if isinstance(elem.tag, str) else ""


def _child(elem: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in elem if _local(c) == name), None)


def _words(elem: etree._Element | None) -> list[str]:
    return (elem.text or "").split() if elem is not None else []


def parse_probe_matches(data: bytes, relates_to: str | None = None) -> list[ProbeMatch]:
    """Parse a ProbeMatches datagram (2005/04 or 2009/01 namespace) into matches.

    Returns [] for garbage, for other message kinds and, when `relates_to` is
    given, for answers to someone else's probe (a missing RelatesTo is tolerated).
    """
    if not data or len(data) > 65535:
        return []
    try:
        root = etree.fromstring(data, parser=_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return []
    if _local(root) != "Envelope":
        return []
    header = _child(root, "Header")
    body = _child(root, "Body")
    if body is None:
        return []
    if relates_to is not None and header is not None:
        rel = _child(header, "RelatesTo")
        if rel is not None and (rel.text or "").strip() not in ("", relates_to):
            return []
    container = _child(body, "ProbeMatches")
    if container is None:
        return []
    matches = []
    for pm in container:
        if _local(pm) != "ProbeMatch":
            continue
        epr = _child(pm, "EndpointReference")
        addr = _child(epr, "Address") if epr is not None else None
        endpoint = (addr.text or "").strip() if addr is not None else ""
        xaddrs = [x for x in _words(_child(pm, "XAddrs")) if urlsplit(x).scheme in ("http", "https")]
        if not endpoint and not xaddrs:
            continue
        version_words = _words(_child(pm, "MetadataVersion"))
        matches.append(
            ProbeMatch(
                endpoint=endpoint or xaddrs[0],
                xaddrs=xaddrs,
                scopes=_words(_child(pm, "Scopes")),
                types=_words(_child(pm, "Types")),
                metadata_version=int(version_words[0]) if version_words and version_words[0].isdigit() else None,
            )
        )
    return matches


def expand_targets(targets: Iterable[str]) -> list[str]:
    """Expand IPv4 hosts and CIDR subnets into unique addresses (host addresses only for subnets).

    Raises ValueError for anything that is not an IPv4 address or network, for
    subnets larger than /22, and for more than MAX_UNICAST_TARGETS addresses.
    """
    out: dict[str, None] = {}
    for raw in targets:
        text = str(raw).strip()
        try:
            net = ipaddress.IPv4Network(text, strict=False)
        except ValueError:
            raise ValueError(f"unicast target {text!r} is not an IPv4 address or CIDR subnet") from None
        if net.prefixlen < MAX_SUBNET_PREFIX:
            raise ValueError(
                f"subnet {net} has {net.num_addresses} addresses; the largest allowed is a /{MAX_SUBNET_PREFIX}"
                f" ({2 ** (32 - MAX_SUBNET_PREFIX)} addresses) -- split it up"
            )
        hosts = [net.network_address] if net.prefixlen == 32 else list(net.hosts())
        for host in hosts:
            out[str(host)] = None
        if len(out) > MAX_UNICAST_TARGETS:
            raise ValueError(f"more than {MAX_UNICAST_TARGETS} unicast targets in total")
    return list(out)


def _check_interface(interface: str) -> str:
    try:
        addr = ipaddress.IPv4Address(str(interface).strip())
    except ValueError:
        raise ValueError(f"interface must be the IPv4 address of a local interface, got {interface!r}") from None
    if addr.is_unspecified or addr.is_multicast:
        raise ValueError(f"interface must be one concrete local address, not {addr}")
    return str(addr)


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.matches: dict[str, ProbeMatch] = {}

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            found = parse_probe_matches(data, relates_to=self.message_id)
        except Exception:  # never let one bad datagram end the probe
            logger.debug("ws-discovery: unparseable datagram from %s", addr, exc_info=True)
            return
        for match in found:
            match.source = (addr[0], addr[1])
            known = self.matches.get(match.endpoint)
            if known is None:
                self.matches[match.endpoint] = match
            else:
                known.xaddrs.extend(x for x in match.xaddrs if x not in known.xaddrs)

    def error_received(self, exc: Exception) -> None:
        logger.debug("ws-discovery: socket error %s", exc)


async def probe(
    interface: str,
    port: int = DEFAULT_PORT,
    multicast: bool = True,
    unicast_targets: Iterable[str] = (),
    timeout: float = 3.0,
    *,
    types: Iterable[str] = ("dn:NetworkVideoTransmitter",),
    repeat: int = 2,
) -> list[ProbeMatch]:
    """Probe for ONVIF devices and return the deduplicated ProbeMatches.

    `interface` is the IPv4 address of the local interface to probe from; it is
    required on purpose: the probe socket is bound to it and multicast leaves
    only through it (IP_MULTICAST_IF, TTL 1). `unicast_targets` are IPv4
    hosts or CIDR subnets (at most /22) probed directly on `port`. Answers are
    collected for `timeout` seconds; garbage datagrams are ignored.
    """
    iface = _check_interface(interface)
    targets = expand_targets(unicast_targets)
    if not multicast and not targets:
        raise ValueError("nothing to probe: multicast is off and no unicast targets were given")
    if ipaddress.IPv4Address(iface).is_loopback:
        off_box = [t for t in targets if not ipaddress.IPv4Address(t).is_loopback]
        if off_box:
            raise ValueError(f"unicast target {off_box[0]} cannot be reached from loopback interface {iface}")
    message_id = f"urn:uuid:{uuid.uuid4()}"
    payload = probe_message(message_id, types)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.bind((iface, 0))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot probe from interface {iface}: {exc.strerror}") from exc
    loop = asyncio.get_running_loop()
    transport, collector = await loop.create_datagram_endpoint(lambda: _Collector(message_id), sock=sock)
    logger.info(
        "ws-discovery: probing from %s port %d (multicast=%s, %d unicast targets, %.1fs)",
        iface,
        port,
        multicast,
        len(targets),
        timeout,
    )
    try:
        deadline = loop.time() + timeout
        for attempt in range(max(1, repeat)):
            if attempt:
                await asyncio.sleep(min(0.25, max(0.0, (deadline - loop.time()) / 4)))
            if multicast:
                _send(transport, payload, MULTICAST_GROUP, port)
            for i, host in enumerate(targets):
                _send(transport, payload, host, port)
                if (i + 1) % _SEND_BATCH == 0:
                    await asyncio.sleep(0.005)
        await asyncio.sleep(max(0.0, deadline - loop.time()))
    finally:
        transport.close()
    return list(collector.matches.values())


def _send(transport: asyncio.DatagramTransport, payload: bytes, host: str, port: int) -> None:
    try:
        transport.sendto(payload, (host, port))
    except OSError as exc:  # e.g. EINVAL when the target is not reachable from the bound interface
        logger.debug("ws-discovery: probe to %s:%d not sent: %s", host, port, exc)
