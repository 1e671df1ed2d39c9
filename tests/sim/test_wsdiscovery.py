"""WS-Discovery responder for simulated cameras, exercised with raw UDP sockets on loopback only."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
from lxml import etree

from nvr.sim.onvif import OnvifDevice
from nvr.sim.wsdiscovery import MULTICAST_GROUP, WsDiscoveryResponder

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
LOOPBACK = "127.0.0.1"


def probe_xml(
    message_id: str,
    types: str | None = "dn:NetworkVideoTransmitter",
    scopes: str | None = None,
    match_by: str | None = None,
) -> bytes:
    types_xml = f"<d:Types>{types}</d:Types>" if types is not None else ""
    match_attr = f' MatchBy="{match_by}"' if match_by else ""
    scopes_xml = f"<d:Scopes{match_attr}>{scopes}</d:Scopes>" if scopes is not None else ""
    return (
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:a="{WSA}" xmlns:d="{WSD}"'
        ' xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"'
        ' xmlns:wsdp="http://schemas.xmlsoap.org/ws/2006/02/devprof">'
        f"<s:Header><a:Action>{WSD}/Probe</a:Action><a:MessageID>{message_id}</a:MessageID>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>"
        f"<s:Body><d:Probe>{types_xml}{scopes_xml}</d:Probe></s:Body></s:Envelope>"
    ).encode()


def client_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(LOOPBACK))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.bind((LOOPBACK, 0))
    sock.setblocking(False)
    return sock


async def collect(sock: socket.socket, wait: float = 0.4) -> list[etree._Element]:
    loop = asyncio.get_running_loop()
    out = []
    deadline = loop.time() + wait
    while (left := deadline - loop.time()) > 0:
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65535), left)
        except TimeoutError:
            break
        out.append(etree.fromstring(data))
    return out


def matches_for(replies: list[etree._Element], message_id: str, endpoints: set[str]) -> dict[str, etree._Element]:
    found = {}
    for doc in replies:
        if doc.findtext(f"{{{SOAP}}}Header/{{{WSA}}}RelatesTo") != message_id:
            continue
        for pm in doc.iter(f"{{{WSD}}}ProbeMatch"):
            ep = pm.findtext(f"{{{WSA}}}EndpointReference/{{{WSA}}}Address")
            if ep in endpoints:
                found[ep] = pm
    return found


@pytest.fixture
async def cameras():
    tag = uuid.uuid4().hex[:8]
    devs = [
        OnvifDevice(
            name=f"sim-{tag}-{i}",
            host=LOOPBACK,
            port=0,
            username="admin",
            password="secret",
            rtsp_main_url=f"rtsp://{LOOPBACK}:8554/{i}/main",
            rtsp_sub_url=f"rtsp://{LOOPBACK}:8554/{i}/sub",
            location="test/bench",
        )
        for i in range(3)
    ]
    for dev in devs:
        await dev.start()
    yield devs
    for dev in devs:
        await dev.stop()


@pytest.fixture
async def responder(cameras):
    resp = WsDiscoveryResponder(cameras, interface=LOOPBACK, port=0)
    await resp.start()
    yield resp
    await resp.stop()


async def test_unicast_probe_gets_one_match_per_device(cameras, responder):
    endpoints = {d.endpoint_uuid for d in cameras}
    with client_socket() as sock:
        mid = f"urn:uuid:{uuid.uuid4()}"
        sock.sendto(probe_xml(mid), (LOOPBACK, responder.port))
        found = matches_for(await collect(sock), mid, endpoints)
    assert set(found) == endpoints
    for dev in cameras:
        pm = found[dev.endpoint_uuid]
        assert pm.findtext(f"{{{WSD}}}XAddrs") == dev.xaddr
        types = pm.findtext(f"{{{WSD}}}Types").split()
        assert {etree.QName(pm.nsmap[t.split(":")[0]], t.split(":")[1]).text for t in types} == {
            "{http://www.onvif.org/ver10/network/wsdl}NetworkVideoTransmitter",
            "{http://www.onvif.org/ver10/device/wsdl}Device",
        }
        scopes = pm.findtext(f"{{{WSD}}}Scopes").split()
        assert f"onvif://www.onvif.org/name/{dev.name}" in scopes
        assert "onvif://www.onvif.org/location/test/bench" in scopes


async def test_multicast_probe_pinned_to_loopback(cameras, responder):
    endpoints = {d.endpoint_uuid for d in cameras}
    with client_socket() as sock:
        mid = f"urn:uuid:{uuid.uuid4()}"
        sock.sendto(probe_xml(mid, types="tds:Device"), (MULTICAST_GROUP, responder.port))
        replies = await collect(sock)
    assert set(matches_for(replies, mid, endpoints)) == endpoints
    # same probe twice (multicast + unicast) is answered once
    assert sum(1 for d in replies for _ in d.iter(f"{{{WSD}}}ProbeMatch")) == len(cameras)


@pytest.mark.parametrize(
    ("types", "scopes", "match_by", "expect"),
    [
        (None, None, None, "all"),
        ("dn:NetworkVideoTransmitter tds:Device", None, None, "all"),
        ("wsdp:Device", None, None, "none"),
        ("dn:Printer", None, None, "none"),
        (None, "onvif://www.onvif.org/location/test", None, "all"),
        (None, "onvif://www.onvif.org/location/tes", None, "none"),
        (None, "NAME0", None, "first"),
        (None, "NAME0", "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0", "first"),
        (None, "onvif://www.onvif.org/name", "http://example.com/unknown-rule", "none"),
    ],
)
async def test_probe_filters(cameras, responder, types, scopes, match_by, expect):
    endpoints = {d.endpoint_uuid for d in cameras}
    if scopes == "NAME0":
        scopes = f"onvif://www.onvif.org/name/{cameras[0].name}"
    with client_socket() as sock:
        mid = f"urn:uuid:{uuid.uuid4()}"
        sock.sendto(probe_xml(mid, types=types, scopes=scopes, match_by=match_by), (LOOPBACK, responder.port))
        found = matches_for(await collect(sock, 0.3), mid, endpoints)
    wanted = {"all": endpoints, "none": set(), "first": {cameras[0].endpoint_uuid}}[expect]
    assert set(found) == wanted


async def test_garbage_is_ignored(cameras, responder):
    endpoints = {d.endpoint_uuid for d in cameras}
    garbage = [
        b"",
        b"\x00\xff" * 100,
        b"<not-closed",
        b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body/></s:Envelope>",
        probe_xml("").replace(b"<a:MessageID></a:MessageID>", b""),
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        probe_xml("urn:uuid:x").replace(b"/Probe<", b"/Hello<"),
    ]
    with client_socket() as sock:
        for junk in garbage:
            sock.sendto(junk, (LOOPBACK, responder.port))
        assert await collect(sock, 0.2) == []
        mid = f"urn:uuid:{uuid.uuid4()}"
        sock.sendto(probe_xml(mid), (LOOPBACK, responder.port))
        assert set(matches_for(await collect(sock), mid, endpoints)) == endpoints


async def test_add_remove_and_hello_bye(cameras, responder):
    extra = OnvifDevice(
        name="late",
        host=LOOPBACK,
        port=0,
        username="a",
        password="b",
        rtsp_main_url="rtsp://x/m",
        rtsp_sub_url="rtsp://x/s",
        endpoint_uuid=f"urn:uuid:{uuid.uuid4()}",
    )
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((MULTICAST_GROUP, responder.port))
    listener.setsockopt(
        socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(MULTICAST_GROUP) + socket.inet_aton(LOOPBACK)
    )
    listener.setblocking(False)
    async with extra:
        with listener, client_socket() as sock:
            responder.add(extra)
            hellos = [
                d for d in await collect(listener, 0.3) if d.findtext(f".//{{{WSA}}}Address") == extra.endpoint_uuid
            ]
            assert hellos and hellos[0].find(f".//{{{WSD}}}Hello") is not None
            mid = f"urn:uuid:{uuid.uuid4()}"
            sock.sendto(probe_xml(mid), (LOOPBACK, responder.port))
            assert extra.endpoint_uuid in matches_for(await collect(sock, 0.3), mid, {extra.endpoint_uuid})
            responder.remove(extra)
            byes = [d for d in await collect(listener, 0.3) if d.find(f".//{{{WSD}}}Bye") is not None]
            assert any(d.findtext(f".//{{{WSA}}}Address") == extra.endpoint_uuid for d in byes)
            mid = f"urn:uuid:{uuid.uuid4()}"
            sock.sendto(probe_xml(mid), (LOOPBACK, responder.port))
            assert matches_for(await collect(sock, 0.3), mid, {extra.endpoint_uuid}) == {}


async def test_two_responders_share_the_multicast_port(cameras, responder):
    other_cam = cameras[0]
    second = WsDiscoveryResponder([other_cam], interface=LOOPBACK, port=responder.port)
    async with second:
        with client_socket() as sock:
            mid = f"urn:uuid:{uuid.uuid4()}"
            sock.sendto(probe_xml(mid), (MULTICAST_GROUP, responder.port))
            replies = await collect(sock)
    # both responders heard the multicast probe: camera 0 is announced twice
    eps = [
        pm.findtext(f"{{{WSA}}}EndpointReference/{{{WSA}}}Address")
        for d in replies
        for pm in d.iter(f"{{{WSD}}}ProbeMatch")
    ]
    assert eps.count(other_cam.endpoint_uuid) == 2


def test_interface_must_be_ipv4():
    with pytest.raises(ValueError):
        WsDiscoveryResponder([], interface="lo")
