"""Simulated ONVIF camera against a real ONVIF client (onvif-zeep-async) and raw SOAP, on loopback."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os

import aiohttp
import av
import pytest
import zeep.exceptions
from lxml import etree
from onvif import ONVIFCamera
from onvif.util import is_auth_error

from nvr.onvif_client import WSDL_DIR
from nvr.sim.onvif import DeviceInfo, OnvifDevice

ENV = "http://www.w3.org/2003/05/soap-envelope"
TER = "http://www.onvif.org/ver10/error"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
TEXT = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
SOAP12 = {"Content-Type": "application/soap+xml; charset=utf-8"}


@pytest.fixture
async def device():
    dev = OnvifDevice(
        name="cam01",
        host="127.0.0.1",
        port=0,
        username="admin",
        password="secret",
        rtsp_main_url="rtsp://127.0.0.1:8554/cam01/main",
        rtsp_sub_url="rtsp://127.0.0.1:8554/cam01/sub",
        info=DeviceInfo(manufacturer="nvr-sim", model="SimCam 1", firmware="0.1", serial="SIM-0001", hardware_id="sim"),
    )
    await dev.start()
    yield dev
    await dev.stop()


@pytest.fixture
async def camera(device):
    cam = ONVIFCamera("127.0.0.1", device.port, "admin", "secret", wsdl_dir=WSDL_DIR, no_cache=True)
    yield cam
    await cam.close()


def token_header(
    username: str, password: str, created: str | None = None, nonce: bytes | None = None, pw_type: str = DIGEST
) -> str:
    nonce = nonce if nonce is not None else os.urandom(16)
    created = created or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if pw_type == DIGEST:
        password = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return (
        f'<s:Header><wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{username}</wsse:Username>"
        f'<wsse:Password Type="{pw_type}">{password}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security></s:Header>"
    )


def envelope(body: str, header: str = "") -> bytes:
    namespaces = f'xmlns:s="{ENV}" xmlns:tds="{TDS}" xmlns:trt="{TRT}"'
    return f"<s:Envelope {namespaces}>{header}<s:Body>{body}</s:Body></s:Envelope>".encode()


async def post(url: str, data: bytes) -> tuple[int, etree._Element]:
    async with aiohttp.ClientSession() as session, session.post(url, data=data, headers=SOAP12) as resp:
        return resp.status, etree.fromstring(await resp.read())


def fault_subcodes(doc: etree._Element) -> list[str]:
    return [v.text for v in doc.iter(f"{{{ENV}}}Value")]


async def test_device_information_and_services(device, camera):
    await camera.update_xaddrs()
    assert camera.xaddrs[TRT] == f"http://127.0.0.1:{device.port}/onvif/media_service"
    mgmt = await camera.create_devicemgmt_service()
    info = await mgmt.GetDeviceInformation()
    assert (info.Manufacturer, info.Model, info.FirmwareVersion, info.SerialNumber, info.HardwareId) == (
        "nvr-sim",
        "SimCam 1",
        "0.1",
        "SIM-0001",
        "sim",
    )
    caps = await mgmt.GetCapabilities({"Category": "All"})
    assert caps.Media.XAddr.endswith("/onvif/media_service")
    clock = await mgmt.GetSystemDateAndTime()
    assert clock.UTCDateTime.Date.Year >= 2024
    scopes = [s.ScopeItem for s in await mgmt.GetScopes()]
    assert "onvif://www.onvif.org/name/cam01" in scopes
    assert device.xaddr == f"http://127.0.0.1:{device.port}/onvif/device_service"
    assert device.endpoint_uuid.startswith("urn:uuid:")


async def test_profiles_stream_and_snapshot_uris(device, camera):
    await camera.update_xaddrs()
    media = await camera.create_media_service()
    profiles = await media.GetProfiles()
    sizes = {
        p.token: (p.VideoEncoderConfiguration.Resolution.Width, p.VideoEncoderConfiguration.Resolution.Height)
        for p in profiles
    }
    assert sizes == {"main": (1280, 720), "sub": (640, 360)}
    assert all(p.VideoEncoderConfiguration.Encoding == "H264" for p in profiles)
    assert all(p.VideoSourceConfiguration.Bounds.width == 1280 for p in profiles)
    setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
    main = await media.GetStreamUri({"StreamSetup": setup, "ProfileToken": "main"})
    sub = await media.GetStreamUri({"StreamSetup": setup, "ProfileToken": "sub"})
    assert main.Uri == "rtsp://127.0.0.1:8554/cam01/main"
    assert sub.Uri == "rtsp://127.0.0.1:8554/cam01/sub"
    snap_uri = await camera.get_snapshot_uri("sub")
    assert snap_uri.startswith(f"http://127.0.0.1:{device.port}/")
    jpeg = await camera.get_snapshot("sub")
    assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
    with av.open(io.BytesIO(jpeg)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (640, 360)
    with pytest.raises(zeep.exceptions.Fault) as err:
        await media.GetStreamUri({"StreamSetup": setup, "ProfileToken": "nope"})
    assert any("NoProfile" in str(code) for code in err.value.subcodes)


async def test_custom_snapshot_callable():
    dev = OnvifDevice(
        name="c",
        host="127.0.0.1",
        port=0,
        username="u",
        password="p",
        rtsp_main_url="rtsp://x/m",
        rtsp_sub_url="rtsp://x/s",
        snapshot=lambda: b"\xff\xd8custom\xff\xd9",
    )
    async with dev, aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{dev.port}/onvif/snapshot/main.jpg") as resp:
            assert resp.status == 200 and resp.content_type == "image/jpeg"
            assert await resp.read() == b"\xff\xd8custom\xff\xd9"
        async with session.get(f"http://127.0.0.1:{dev.port}/onvif/snapshot/other.jpg") as resp:
            assert resp.status == 404


async def test_wrong_password_is_not_authorized(device):
    cam = ONVIFCamera("127.0.0.1", device.port, "admin", "wrong", wsdl_dir=WSDL_DIR, no_cache=True)
    try:
        with pytest.raises(zeep.exceptions.Fault) as err:
            await cam.update_xaddrs()
    finally:
        await cam.close()
    assert is_auth_error(err.value)
    assert [str(c) for c in err.value.subcodes] == [f"{{{TER}}}NotAuthorized"]


async def test_system_date_and_time_needs_no_auth_but_the_rest_does(device):
    status, doc = await post(device.xaddr, envelope("<tds:GetSystemDateAndTime/>"))
    assert status == 200 and doc.find(f".//{{{TDS}}}SystemDateAndTime") is not None
    status, doc = await post(device.xaddr, envelope("<tds:GetDeviceInformation/>"))
    assert status == 400 and "ter:NotAuthorized" in fault_subcodes(doc)
    ok_header = token_header("admin", "secret")
    status, doc = await post(device.xaddr, envelope("<tds:GetDeviceInformation/>", ok_header))
    assert status == 200 and doc.findtext(f".//{{{TDS}}}SerialNumber") == "SIM-0001"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(lambda: token_header("admin", "secret", created="2020-01-01T00:00:00Z"), id="stale-created"),
        pytest.param(
            lambda: token_header(
                "admin",
                "secret",
                created=(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            ),
            id="future-created",
        ),
        pytest.param(lambda: token_header("admin", "secret", pw_type=TEXT), id="plaintext-password"),
        pytest.param(lambda: token_header("root", "secret"), id="wrong-user"),
        pytest.param(lambda: token_header("admin", "secret", created="yesterday"), id="garbage-created"),
        pytest.param(
            lambda: token_header("admin", "secret").replace("<wsse:Nonce>", "<wsse:Nonce>!!"), id="garbage-nonce"
        ),
    ],
)
async def test_bad_tokens_rejected(device, header):
    status, doc = await post(device.xaddr, envelope("<tds:GetDeviceInformation/>", header()))
    assert status == 400
    assert fault_subcodes(doc) == ["env:Sender", "ter:NotAuthorized"]


async def test_replayed_nonce_rejected(device):
    header = token_header("admin", "secret")
    assert (await post(device.xaddr, envelope("<tds:GetDeviceInformation/>", header)))[0] == 200
    status, doc = await post(device.xaddr, envelope("<tds:GetDeviceInformation/>", header))
    assert status == 400 and "ter:NotAuthorized" in fault_subcodes(doc)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "ter:WellFormed"),
        (b"this is not xml", "ter:WellFormed"),
        (b"<a><b></a>", "ter:WellFormed"),
        (b"<root/>", "ter:WellFormed"),
        (envelope("").replace(b"<s:Body></s:Body>", b""), "ter:WellFormed"),
        (envelope(""), "ter:WellFormed"),
        (envelope("<tds:GetDeviceInformation/><tds:GetScopes/>"), "ter:WellFormed"),
        (
            (
                b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><l>&b;</l>'
            ),
            "ter:WellFormed",
        ),
        (
            b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>',
            "env:VersionMismatch",
        ),
    ],
)
async def test_malformed_requests_get_faults(device, body, expected):
    status, doc = await post(device.xaddr, body)
    assert status in (400, 500)
    assert doc.tag == f"{{{ENV}}}Envelope" and doc.find(f".//{{{ENV}}}Fault") is not None
    assert expected in fault_subcodes(doc)
    # the server is still fine afterwards
    status, _ = await post(device.xaddr, envelope("<tds:GetSystemDateAndTime/>"))
    assert status == 200


async def test_unknown_operation_and_wrong_service(device):
    header = token_header("admin", "secret")
    status, doc = await post(device.xaddr, envelope("<tds:SystemReboot/>", header))
    assert status == 500 and "ter:ActionNotSupported" in fault_subcodes(doc)
    media = device.xaddr.replace("device_service", "media_service")
    status, doc = await post(media, envelope("<tds:GetDeviceInformation/>", token_header("admin", "secret")))
    assert "ter:ActionNotSupported" in fault_subcodes(doc)
    status, doc = await post(media, envelope("<trt:GetProfiles/>"))
    assert status == 400 and "ter:NotAuthorized" in fault_subcodes(doc)
