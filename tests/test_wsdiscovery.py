"""WS-Discovery client: probe building, ProbeMatches parsing, target expansion, probing over loopback."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest

from nvr.sim.onvif import OnvifDevice
from nvr.sim.wsdiscovery import WsDiscoveryResponder, probe_matches_xml
from nvr.wsdiscovery import (
    MULTICAST_GROUP,
    ProbeMatch,
    expand_targets,
    parse_probe_matches,
    probe,
)

LOOPBACK = "127.0.0.1"
WSD09 = "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01"


WSD05 = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
SCOPES = "onvif://www.onvif.org/name/Gate%20North onvif://www.onvif.org/location/city/gate"


def matches_xml(relates_to: str, endpoint: str, xaddrs: str, ns: str = WSD05, scopes: str = SCOPES) -> bytes:
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        f' xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:d="{ns}">'
        f"<s:Header><a:RelatesTo>{relates_to}</a:RelatesTo></s:Header><s:Body><d:ProbeMatches><d:ProbeMatch>"
        f"<a:EndpointReference><a:Address>{endpoint}</a:Address></a:EndpointReference>"
        f"<d:Types>dn:NetworkVideoTransmitter</d:Types><d:Scopes>{scopes}</d:Scopes>"
        f"<d:XAddrs>{xaddrs}</d:XAddrs><d:MetadataVersion>3</d:MetadataVersion>"
        "</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"
    ).encode()


def test_parse_probe_matches_any_namespace_and_scopes():
    xaddrs = "http://[fe80::1]/onvif/device_service ftp://x http://10.1.2.3/onvif/device_service"
    data = matches_xml("urn:uuid:1", "urn:uuid:dev", xaddrs, ns=WSD09)
    (match,) = parse_probe_matches(data, relates_to="urn:uuid:1")
    assert match.endpoint == "urn:uuid:dev"
    assert match.xaddrs == ["http://[fe80::1]/onvif/device_service", "http://10.1.2.3/onvif/device_service"]
    assert match.name == "Gate North" and match.location == "city/gate" and match.hardware is None
    assert match.metadata_version == 3 and match.types == ["dn:NetworkVideoTransmitter"]
    assert match.best_xaddr() == "http://10.1.2.3/onvif/device_service"
    match.source = ("fe80::1", 3702)
    assert match.best_xaddr() == "http://[fe80::1]/onvif/device_service"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"\xff\xfe<<<",
        b"<x/>",
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>',
        matches_xml("urn:uuid:someone-else", "urn:uuid:dev", "http://10.0.0.1/onvif/device_service"),
        matches_xml("urn:uuid:1", "", "not-a-url"),
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        b"A" * 70000,
    ],
)
def test_parse_probe_matches_rejects_garbage(data):
    assert parse_probe_matches(data, relates_to="urn:uuid:1") == []


def test_expand_targets():
    assert expand_targets(["127.0.0.1"]) == ["127.0.0.1"]
    assert expand_targets(["127.0.0.0/30", "127.0.0.2"]) == ["127.0.0.1", "127.0.0.2"]
    assert expand_targets(["10.0.0.5/31"]) == ["10.0.0.4", "10.0.0.5"]
    assert len(expand_targets(["10.0.0.0/22"])) == 1022
    with pytest.raises(ValueError, match="/22"):
        expand_targets(["10.0.0.0/21"])
    with pytest.raises(ValueError, match="not an IPv4"):
        expand_targets(["camera.local"])
    with pytest.raises(ValueError, match="in total"):
        expand_targets([f"10.0.{i * 4}.0/22" for i in range(5)])


@pytest.mark.parametrize("interface", ["", "0.0.0.0", "lo", "239.255.255.250", "::1"])
async def test_probe_requires_a_concrete_interface(interface):
    with pytest.raises(ValueError):
        await probe(interface, timeout=0.1)


async def test_probe_needs_something_to_probe():
    with pytest.raises(ValueError, match="nothing to probe"):
        await probe(LOOPBACK, multicast=False, timeout=0.1)


async def test_probe_from_loopback_refuses_off_box_targets():
    with pytest.raises(ValueError, match="cannot be reached from loopback"):
        await probe(LOOPBACK, unicast_targets=["127.0.0.1", "192.0.2.0/30"], timeout=0.1)


@pytest.fixture
async def sim_pair():
    tag = uuid.uuid4().hex[:8]
    devs = [
        OnvifDevice(
            name=f"wsd-{tag}-{i}",
            host=LOOPBACK,
            port=0,
            username="u",
            password="p",
            rtsp_main_url="rtsp://x/m",
            rtsp_sub_url="rtsp://x/s",
        )
        for i in range(2)
    ]
    for d in devs:
        await d.start()
    resp = WsDiscoveryResponder(devs, interface=LOOPBACK, port=0)
    await resp.start()
    yield devs, resp
    await resp.stop()
    for d in devs:
        await d.stop()


async def test_probe_multicast_and_unicast_dedupes(sim_pair):
    devs, resp = sim_pair
    found = await probe(LOOPBACK, port=resp.port, multicast=True, unicast_targets=[LOOPBACK], timeout=0.5)
    mine = [m for m in found if m.endpoint in {d.endpoint_uuid for d in devs}]
    assert sorted(m.name for m in mine) == sorted(d.name for d in devs)
    assert all(m.xaddrs == [d.xaddr] for m in mine for d in devs if d.endpoint_uuid == m.endpoint)
    assert all(m.source == (LOOPBACK, resp.port) for m in mine)


class _FakeResponder(asyncio.DatagramProtocol):
    """Answers each probe with garbage first, then one valid ProbeMatches."""

    def __init__(self, device: OnvifDevice) -> None:
        self.device = device
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        from lxml import etree

        mid = etree.fromstring(data).findtext(".//{http://schemas.xmlsoap.org/ws/2004/08/addressing}MessageID")
        for junk in (
            b"\x00" * 10,
            b"<broken",
            matches_xml("urn:uuid:other-probe", "urn:uuid:stray", "http://1.2.3.4/"),
        ):
            self.transport.sendto(junk, addr)
        self.transport.sendto(probe_matches_xml(self.device, mid, (1, 1)), addr)
        self.transport.sendto(probe_matches_xml(self.device, mid, (1, 2)), addr)


async def test_probe_ignores_garbage_replies():
    dev = OnvifDevice(
        name="fake",
        host=LOOPBACK,
        port=0,
        username="u",
        password="p",
        rtsp_main_url="rtsp://x/m",
        rtsp_sub_url="rtsp://x/s",
        endpoint_uuid=f"urn:uuid:{uuid.uuid4()}",
    )
    loop = asyncio.get_running_loop()
    async with dev:
        transport, _ = await loop.create_datagram_endpoint(lambda: _FakeResponder(dev), local_addr=(LOOPBACK, 0))
        try:
            port = transport.get_extra_info("sockname")[1]
            found = await probe(LOOPBACK, port=port, multicast=False, unicast_targets=[LOOPBACK], timeout=0.4)
        finally:
            transport.close()
    assert [(m.endpoint, m.name) for m in found] == [(dev.endpoint_uuid, "fake")]


async def test_multicast_probe_leaves_through_loopback_only():
    """A listener joined on 127.0.0.1 hears the probe; the kernel routes the group via lo for this source."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((MULTICAST_GROUP, 0))
    port = listener.getsockname()[1]
    listener.setsockopt(
        socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(MULTICAST_GROUP) + socket.inet_aton(LOOPBACK)
    )
    listener.setblocking(False)
    loop = asyncio.get_running_loop()
    with listener:
        task = asyncio.create_task(probe(LOOPBACK, port=port, timeout=0.3, repeat=1))
        data, addr = await asyncio.wait_for(loop.sock_recvfrom(listener, 65535), 2)
        await task
    assert addr[0] == LOOPBACK and b"/discovery/Probe<" in data


def test_probe_match_scope_helpers():
    m = ProbeMatch(endpoint="e", scopes=["onvif://www.onvif.org/Name/a%2Fb", "onvif://www.onvif.org/name/"])
    assert m.name == "a/b"
    assert ProbeMatch(endpoint="e").best_xaddr() is None


async def test_probe_from_an_address_this_host_does_not_have_fails_before_sending():
    with pytest.raises(OSError, match="cannot probe from interface 198.51.100.77"):
        await probe("198.51.100.77", timeout=0.1)  # TEST-NET-2: not ours; the socket refuses it at setup
