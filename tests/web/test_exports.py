"""The export API and page over real HTTP: roles, scope, CSRF, bad input, progress, bundles, streaming, audit."""

from __future__ import annotations

import asyncio
import time
import zipfile
from pathlib import Path

import aiohttp
import pytest

from nvr.export_verify import verify_bundle
from nvr.users import create_user
from tests.conftest import ADMIN_PASSWORD
from tests.export_media import FPS, T0, record, shown_packets, source_frames_in
from tests.web.test_auth import client, csrf_of, login

S = 1_000_000
CAMERAS = '''
[export]
max_range_hours = 1
[[cameras]]
name = "menteng-1"
kelurahan = "Menteng"
stream = { main = "rtsp://127.0.0.1:9/a" }
[[cameras]]
name = "gambir-1"
kelurahan = "Gambir"
stream = { main = "rtsp://127.0.0.1:9/b" }
'''


@pytest.fixture
async def app(write_config, start_server):
    async with start_server(write_config(CAMERAS)) as srv:
        catalog, root = srv.runtime.catalog, srv.runtime.config.storage.root
        srv.footage = {  # type: ignore[attr-defined]
            "menteng-1": await record(catalog, root, "menteng-1", T0, count=3, kelurahan="Menteng"),
            "gambir-1": await record(catalog, root, "gambir-1", T0, count=2, kelurahan="Gambir",
                                     variants=["sub", "alt"]),
        }
        for name, role, area in (("penyidik", "investigator", None), ("penyidik-menteng", "investigator", "Menteng"),
                                 ("operator", "operator", None), ("viewer", "viewer", None)):
            await create_user(catalog, name, f"{name}-password", role, area)
        yield srv


async def exports_audit(app) -> list:
    """The audit log without logins (which the log records too)."""
    return [e for e in await app.runtime.catalog.audit_entries() if not e.action.startswith("login")]


async def session_for(app, username: str) -> tuple[aiohttp.ClientSession, str]:
    s = client()
    password = ADMIN_PASSWORD if username == "admin" else f"{username}-password"
    resp = await login(s, app.url, username, password)
    assert resp.status == 303
    async with s.get(app.url + "exports" if username not in ("operator", "viewer") else app.url) as page:
        token = csrf_of(await page.text())
    return s, token


def body(**overrides: object) -> dict:
    return {"cameras": ["menteng-1"], "start": "2024-05-01T10:00:01Z", "end": "2024-05-01T10:00:05.5Z",
            "case": "LP/B/1/2024", "reason": "tawuran", **overrides}


async def wait_done(s: aiohttp.ClientSession, url: str) -> dict:
    for _ in range(200):
        async with s.get(url) as resp:
            job = await resp.json()
        if job["state"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError("export did not finish")


async def test_investigator_exports_and_downloads_the_bundle(app, tmp_path: Path) -> None:
    s, token = await session_for(app, "penyidik")
    async with s:
        async with s.post(app.url + "api/exports", json=body(hold=True), headers={"X-CSRF-Token": token}) as resp:
            assert resp.status == 202, await resp.text()
            job = await resp.json()
            assert resp.headers["Location"] == f"/api/exports/{job['id']}"
        assert job["state"] == "queued" and job["created_by"] == "penyidik" and len(job["holds"]) == 1
        done = await wait_done(s, app.url + f"api/exports/{job['id']}")
        assert done["state"] == "done", done["error"]
        assert done["progress"]["percent"] == 100 and done["bundle"] == f"/api/exports/{job['id']}/bundle.zip"
        async with s.get(app.url + done["bundle"][1:]) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "application/zip"
            (tmp_path / "b.zip").write_bytes(await resp.read())
        async with s.get(app.url + "api/exports") as resp:
            assert [j["id"] for j in (await resp.json())["exports"]] == [job["id"]]
    report = verify_bundle(tmp_path / "b.zip")
    assert report.ok, report.problems
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        clip = report.manifest["cameras"][0]["clips"][0]["file"]
        (tmp_path / "clip.mp4").write_bytes(archive.read(clip))
    root = app.runtime.config.storage.root
    assert [p[1] for p in shown_packets(tmp_path / "clip.mp4")] == source_frames_in(
        root, app.footage["menteng-1"], T0 + S, T0 + 5_500_000)
    actions = [(e.actor, e.action) for e in await exports_audit(app)]
    assert actions == [("penyidik", "export.download"), ("nvr", "export.done"), ("penyidik", "export.create")]


async def test_roles_scope_and_csrf(app) -> None:
    for who in ("viewer", "operator"):
        s, token = await session_for(app, who)
        async with s:
            async with s.post(app.url + "api/exports", json=body(), headers={"X-CSRF-Token": token}) as resp:
                assert resp.status == 403
            async with s.get(app.url + "api/cameras/menteng-1/download.mp4?start=0&end=1") as resp:
                assert resp.status == 403
            async with s.get(app.url + "exports") as resp:
                assert resp.status == 403
    s, token = await session_for(app, "penyidik-menteng")
    async with s:
        async with s.post(app.url + "api/exports", json=body()) as resp:
            assert resp.status == 403, "no CSRF token"
        async with s.post(app.url + "api/exports", json=body(cameras=["gambir-1"]),
                          headers={"X-CSRF-Token": token}) as resp:
            assert resp.status == 400 and (await resp.json())["error"] == "cameras: no camera named 'gambir-1'"
        async with s.get(app.url + f"api/cameras/gambir-1/download.mp4?start={T0}&end={T0 + S}") as resp:
            assert resp.status == 404
    # An export of another kelurahan's camera does not exist for a Menteng investigator.
    s, token = await session_for(app, "penyidik")
    async with s:
        async with s.post(app.url + "api/exports", json=body(cameras=["gambir-1"], end="2024-05-01T10:00:02Z"),
                          headers={"X-CSRF-Token": token}) as resp:
            other = await resp.json()
    s, _ = await session_for(app, "penyidik-menteng")
    async with s:
        async with s.get(app.url + f"api/exports/{other['id']}") as resp:
            assert resp.status == 404
        async with s.get(app.url + "api/exports") as resp:
            assert (await resp.json())["exports"] == []


BAD = [
    ({"cameras": ["nope"]}, 400, "cameras"),
    ({"cameras": ["../menteng-1"]}, 400, "cameras"),
    ({"end": "2024-05-01T09:00:00Z"}, 400, "end"),
    ({"end": "2024-05-01T11:00:01.5Z"}, 400, "end"),  # over max_range_hours = 1
    ({"start": "2024-05-01T12:00:00Z", "end": "2024-05-01T12:30:00Z"}, 422, "cameras"),  # no footage
    ({"case": ""}, 400, "case"),
    ({"start": "2024-05-01 10:00"}, 400, "start"),
    ({"hold": "yes"}, 400, "hold"),
]


async def test_bad_input_is_refused_and_nothing_is_written(app) -> None:
    s, token = await session_for(app, "penyidik")
    async with s:
        for overrides, status, field in BAD:
            async with s.post(app.url + "api/exports", json=body(**overrides),
                              headers={"X-CSRF-Token": token}) as resp:
                answer = await resp.json()
                assert resp.status == status and answer["field"] == field, (overrides, answer)
                assert answer["error"].startswith(field + ":")
        async with s.post(app.url + "api/exports", data=b"{not json", headers={
                "X-CSRF-Token": token, "Content-Type": "application/json"}) as resp:
            assert resp.status == 400 and (await resp.json())["error"] == "body: not JSON"
    assert await app.runtime.catalog.list_export_jobs() == []
    assert await exports_audit(app) == []
    assert not app.runtime.config.export_dir.exists() or not any(app.runtime.config.export_dir.iterdir())


async def test_streamed_download_starts_fast_and_is_the_footage(app, tmp_path: Path) -> None:
    s, _ = await session_for(app, "penyidik")
    start, end = T0 + 700_000, T0 + 5_300_000
    async with s:
        async with s.get(app.url + f"api/cameras/menteng-1/download.mp4?start={T0}&end={T0 + S}") as resp:
            assert resp.status == 200  # a warm-up: the server's first request pays for imports and threads
            await resp.read()
        began = time.perf_counter()
        async with s.get(app.url + f"api/cameras/menteng-1/download.mp4?start={start}&end={end}") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
            assert "Content-Length" not in resp.headers and resp.headers["Transfer-Encoding"] == "chunked"
            first = await resp.content.readany()
            ttfb = time.perf_counter() - began
            data = first + await resp.read()
    assert ttfb < 0.2, f"first byte after {ttfb * 1000:.0f} ms"
    (tmp_path / "d.mp4").write_bytes(data)
    frames = [p[1] for p in shown_packets(tmp_path / "d.mp4")]
    assert frames == source_frames_in(app.runtime.config.storage.root, app.footage["menteng-1"], start, end)
    assert len(frames) == round(4.6 * FPS) + 1
    entries = await app.runtime.catalog.audit_entries(action="footage.download")
    assert [(e.actor, e.target, e.detail["start_us"]) for e in entries][0] == ("penyidik", "camera:menteng-1", start)
    assert len(entries) == 2


async def test_download_errors(app) -> None:
    s, _ = await session_for(app, "penyidik")
    async with s:
        base = app.url + "api/cameras/"
        async with s.get(base + f"gambir-1/download.mp4?start={T0}&end={T0 + 4 * S}") as resp:
            answer = await resp.json()
            assert resp.status == 409 and len(answer["parts"]) == 2, "the resolution changes at 2 s"
        async with s.get(base + "nope/download.mp4?start=0&end=1") as resp:
            assert resp.status == 404
        async with s.get(base + f"menteng-1/download.mp4?start={T0}&end={T0}") as resp:
            assert resp.status == 400 and (await resp.json())["field"] == "end"
        async with s.get(base + f"menteng-1/download.mp4?start={T0}") as resp:
            assert resp.status == 400 and (await resp.json())["field"] == "end"
        async with s.get(base + f"menteng-1/download.mp4?start={T0 - 60 * S}&end={T0 - S}") as resp:
            assert resp.status == 422
    assert await exports_audit(app) == []


async def test_page_form_key_and_admin_section(app) -> None:
    s, token = await session_for(app, "penyidik")
    async with s:
        async with s.get(app.url + "exports") as resp:
            html = await resp.text()
        assert 'name="cameras"' in html and "menteng-1" in html and 'name="csrf_token"' in html
        fingerprint = app.runtime.extras["exports"].key.fingerprint
        assert fingerprint in html
        form = {"csrf_token": token, "cameras": "menteng-1", "start": "2024-05-01T17:00:01",
                "end": "2024-05-01T17:00:03", "zone": "+07:00", "case": "C/1", "reason": "form", "hold": "on"}
        async with s.post(app.url + "exports", data=form, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/exports"
        jobs = await app.runtime.catalog.list_export_jobs()
        assert jobs[0].start_us == T0 + S and jobs[0].hold and jobs[0].created_by == "penyidik"
        async with s.post(app.url + "exports", data={**form, "end": "2024-05-01T16:00:00"}) as resp:
            assert resp.status == 400 and "end: must be after start" in await resp.text()
        async with s.get(app.url + "exports/download?camera=menteng-1&start=2024-05-01T17:00:01"
                                   "&end=2024-05-01T17:00:02&zone=%2B07:00", allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"].startswith("/api/cameras/menteng-1/download.mp4?start=2024-05-01T17")
        async with s.get(app.url + "api/keys/export") as resp:
            key = await resp.json()
        assert key["fingerprint"] == fingerprint and "BEGIN PUBLIC KEY" in key["public_key_pem"]
        async with s.get(app.url + "api/audit") as resp:
            assert resp.status == 403, "the audit log is for admins"
    s, _ = await session_for(app, "admin")
    async with s:
        async with s.get(app.url + "cameras") as resp:
            assert fingerprint in await resp.text(), "the admin part of the camera table shows the key"
        async with s.get(app.url + "api/audit?action=export.create") as resp:
            entries = (await resp.json())["entries"]
        assert [e["detail"]["case"] for e in entries] == ["C/1"]
