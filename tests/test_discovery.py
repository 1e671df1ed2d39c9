"""End-to-end discovery against simulated cameras on loopback: probe, ONVIF query, auth states, output."""

from __future__ import annotations

import logging
import socket
import tomllib
import uuid

import pytest

from nvr.discovery import discover, format_table, format_toml
from nvr.onvif_client import (
    DiscoveredDevice,
    ProfileInfo,
    query_device,
    strip_credentials,
)
from nvr.sim.onvif import DeviceInfo, OnvifDevice
from nvr.sim.wsdiscovery import WsDiscoveryResponder

LOOPBACK = "127.0.0.1"
PASSWORD = "s3cret-Pa55"


def make_cameras(count: int, tag: str, bad_password_index: int | None = None) -> list[OnvifDevice]:
    return [
        OnvifDevice(
            name=f"cam-{tag}-{i:02d}",
            host=LOOPBACK,
            port=0,
            username="admin",
            password="other-password" if i == bad_password_index else PASSWORD,
            rtsp_main_url=f"rtsp://{LOOPBACK}:8554/cam{i:02d}/main",
            rtsp_sub_url=f"rtsp://{LOOPBACK}:8554/cam{i:02d}/sub",
            info=DeviceInfo(
                manufacturer="nvr-sim", model="SimCam 1", firmware="0.1", serial=f"SIM-{tag}-{i:04d}", hardware_id="sim"
            ),
        )
        for i in range(count)
    ]


@pytest.fixture
async def fleet(request):
    """20 cameras (one with a different password when parametrized) behind one responder on a free port."""
    bad = getattr(request, "param", None)
    cams = make_cameras(20, uuid.uuid4().hex[:8], bad_password_index=bad)
    for cam in cams:
        await cam.start()
    responder = WsDiscoveryResponder(cams, interface=LOOPBACK, port=0)
    await responder.start()
    yield cams, responder
    await responder.stop()
    for cam in cams:
        await cam.stop()


def mine(results: list[DiscoveredDevice], cams: list[OnvifDevice]) -> dict[str, DiscoveredDevice]:
    endpoints = {c.endpoint_uuid for c in cams}
    return {d.endpoint: d for d in results if d.endpoint in endpoints}


def assert_all_ok(found: dict[str, DiscoveredDevice], cams: list[OnvifDevice]) -> None:
    assert len(found) == len(cams)
    for cam in cams:
        dev = found[cam.endpoint_uuid]
        assert dev.state == "ok", (cam.name, dev.error)
        assert dev.name == cam.name
        assert (dev.host, dev.port, dev.xaddr) == (LOOPBACK, cam.port, cam.xaddr)
        assert (dev.manufacturer, dev.model, dev.serial) == ("nvr-sim", "SimCam 1", cam.info.serial)
        assert dev.main_uri == f"rtsp://{LOOPBACK}:8554/cam{cam.name[-2:]}/main"
        assert dev.sub_uri == dev.main_uri.replace("/main", "/sub")
        assert dev.snapshot_uri == f"http://{LOOPBACK}:{cam.port}/onvif/snapshot/main.jpg"
        assert [(p.width, p.height) for p in dev.profiles] == [(1280, 720), (640, 360)]


@pytest.mark.slow
async def test_multicast_discovery_finds_20_cameras(fleet):
    cams, responder = fleet
    results = await discover(
        LOOPBACK, port=responder.port, multicast=True, credentials=("admin", PASSWORD), timeout=1.0
    )
    assert_all_ok(mine(results, cams), cams)


@pytest.mark.slow
async def test_unicast_discovery_finds_20_cameras(fleet):
    cams, responder = fleet
    results = await discover(
        LOOPBACK,
        port=responder.port,
        multicast=False,
        unicast_targets=[LOOPBACK],
        credentials=lambda match: ("admin", PASSWORD),
        timeout=1.0,
    )
    assert_all_ok(mine(results, cams), cams)


@pytest.mark.slow
@pytest.mark.parametrize("fleet", [7], indirect=True)
async def test_wrong_password_reported_as_auth_failed(fleet):
    cams, responder = fleet
    results = mine(await discover(LOOPBACK, port=responder.port, credentials=("admin", PASSWORD), timeout=1.0), cams)
    states = {results[c.endpoint_uuid].name: results[c.endpoint_uuid].state for c in cams}
    assert states.pop(cams[7].name) == "auth_failed"
    assert set(states.values()) == {"ok"}
    failed = results[cams[7].endpoint_uuid]
    assert failed.error is not None
    assert failed.main_uri is None and "authentication" in failed.error
    assert PASSWORD not in repr(results)


async def test_discovery_on_default_port_3702():
    """The standard port works too (skipped if something on this host holds 3702 exclusively)."""
    cams = make_cameras(2, uuid.uuid4().hex[:8])
    for cam in cams:
        await cam.start()
    responder = WsDiscoveryResponder(cams, interface=LOOPBACK)
    try:
        try:
            await responder.start()
        except OSError as exc:
            pytest.skip(f"port 3702 unavailable: {exc}")
        results = await discover(LOOPBACK, credentials=("admin", PASSWORD), timeout=0.8)
        assert_all_ok(mine(results, cams), cams)
    finally:
        await responder.stop()
        for cam in cams:
            await cam.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


async def test_closed_port_is_unreachable():
    port = closed_port()
    dev = await query_device(f"http://{LOOPBACK}:{port}/onvif/device_service", "admin", PASSWORD, timeout=3)
    assert (dev.state, dev.host, dev.port) == ("unreachable", LOOPBACK, port)
    assert dev.error and PASSWORD not in dev.error


async def test_silent_device_times_out_as_unreachable():
    with socket.socket() as listener:  # accepts TCP but never answers HTTP
        listener.bind((LOOPBACK, 0))
        listener.listen()
        dev = await query_device(f"{LOOPBACK}:{listener.getsockname()[1]}", "admin", PASSWORD, timeout=0.5)
    assert dev.state == "unreachable" and dev.error == "timed out"


async def test_query_device_by_host_port_and_wrong_password(caplog):
    caplog.set_level(logging.DEBUG)
    (cam,) = make_cameras(1, uuid.uuid4().hex[:8])
    async with cam:
        ok = await query_device(f"{LOOPBACK}:{cam.port}", "admin", PASSWORD)
        bad = await query_device(cam.xaddr, "admin", "nope")
        bad_user = await query_device(cam.xaddr, "root", PASSWORD)
    assert ok.state == "ok" and ok.main_uri.endswith("/main") and ok.sub_uri.endswith("/sub")
    assert bad.state == "auth_failed" and bad_user.state == "auth_failed"
    assert "UsernameToken" in caplog.text  # the SOAP bodies are logged at DEBUG...
    assert PASSWORD not in caplog.text  # ...but only ever the digest


async def test_uris_are_stripped_of_credentials():
    cam = OnvifDevice(
        name="leaky",
        host=LOOPBACK,
        port=0,
        username="admin",
        password=PASSWORD,
        rtsp_main_url=f"rtsp://admin:{PASSWORD}@{LOOPBACK}:554/main?channel=1&password={PASSWORD}",
        rtsp_sub_url=f"rtsp://admin@{LOOPBACK}/sub",
    )
    async with cam:
        dev = await query_device(cam.xaddr, "admin", PASSWORD)
    assert dev.main_uri == f"rtsp://{LOOPBACK}:554/main?channel=1"
    assert dev.sub_uri == f"rtsp://{LOOPBACK}/sub"
    assert PASSWORD not in repr(dev) and PASSWORD not in format_table([dev]) and PASSWORD not in format_toml([dev])


def test_strip_credentials():
    assert strip_credentials("rtsp://u:p@[::1]:554/a?user=u&x=1") == "rtsp://[::1]:554/a?x=1"
    assert strip_credentials(None) is None
    assert strip_credentials("http://h/p") == "http://h/p"


def sample_devices() -> list[DiscoveredDevice]:
    ok = DiscoveredDevice(
        xaddr="http://127.0.0.1:8000/onvif/device_service",
        host=LOOPBACK,
        port=8000,
        endpoint="urn:uuid:a",
        name='Gate "North"',
        manufacturer="nvr-sim",
        model="SimCam 1",
        serial="S1",
        firmware="0.1",
        profiles=[ProfileInfo("main", "Main", "H264", 1280, 720, 25, "rtsp://127.0.0.1:8554/a/main")],
        main_uri="rtsp://127.0.0.1:8554/a/main",
        sub_uri="rtsp://127.0.0.1:8554/a/sub",
        state="ok",
        username="admin",
    )
    dup = DiscoveredDevice(
        xaddr="http://127.0.0.1:8001/onvif/device_service",
        host=LOOPBACK,
        port=8001,
        name='Gate "North"',
        main_uri="rtsp://127.0.0.1:8554/b/main",
        state="ok",
        username="admin",
    )
    bad = DiscoveredDevice(
        xaddr="http://127.0.0.1:8002/onvif/device_service",
        host=LOOPBACK,
        port=8002,
        state="auth_failed",
        error="authentication failed",
        username="admin",
    )
    return [ok, dup, bad]


def test_format_table():
    lines = format_table(sample_devices()).splitlines()
    assert lines[0].split() == ["NAME", "HOST:PORT", "MAKER", "MODEL", "SERIAL", "STATE", "MAIN", "URI"]
    assert len(lines) == 4
    state_col = lines[0].index("STATE")
    assert [line[state_col:].split()[0] for line in lines[1:]] == ["ok", "ok", "auth_failed"]
    assert "127.0.0.1:8000" in lines[1] and "rtsp://127.0.0.1:8554/a/main" in lines[1]


def test_format_toml_is_valid_and_has_no_passwords():
    text = format_toml(sample_devices())
    doc = tomllib.loads(text)
    assert [c["name"] for c in doc["cameras"]] == ['Gate "North"', 'Gate "North"-2']
    first = doc["cameras"][0]
    assert first["onvif"] == {
        "host": LOOPBACK,
        "port": 8000,
        "username": "admin",
        "password": {"env": "NVR_CAMERA_PASSWORD"},
    }
    assert first["stream"] == {"main": "rtsp://127.0.0.1:8554/a/main", "sub": "rtsp://127.0.0.1:8554/a/sub"}
    assert doc["cameras"][1]["stream"] == {"main": "rtsp://127.0.0.1:8554/b/main"}
    assert "# auth_failed: authentication failed" in text  # failed device only as a comment
    env_doc = tomllib.loads(format_toml(sample_devices(), username_env="NVR_CAMERA_USER", password_env="CAM_PW"))
    assert env_doc["cameras"][0]["onvif"]["username"] == {"env": "NVR_CAMERA_USER"}
    assert env_doc["cameras"][0]["onvif"]["password"] == {"env": "CAM_PW"}
    assert format_toml([]) == ""
