"""Login, sessions, CSRF, throttling, roles and kelurahan scope over real HTTP."""

from __future__ import annotations

import re

import aiohttp
import pytest

from nvr.users import create_user
from tests.conftest import ADMIN_PASSWORD

CAMERAS = '''
[[cameras]]
name = "menteng-1"
kelurahan = "Menteng"
stream = { main = "rtsp://127.0.0.1:9/a" }
[[cameras]]
name = "gambir-1"
kelurahan = "Gambir"
stream = { main = "rtsp://127.0.0.1:9/b" }
'''


def client() -> aiohttp.ClientSession:
    """A session that keeps cookies from 127.0.0.1 (aiohttp drops IP-host cookies by default)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no csrf_token field"
    return match.group(1)


async def login(session: aiohttp.ClientSession, base: str, username: str, password: str) -> aiohttp.ClientResponse:
    async with session.get(base + "login") as resp:
        token = csrf_of(await resp.text())
    return await session.post(base + "login", data={"username": username, "password": password,
                                                    "csrf_token": token, "next": "/"}, allow_redirects=False)


@pytest.fixture
async def app_server(write_config, start_server):
    async with start_server(write_config(CAMERAS)) as srv:
        yield srv


async def test_everything_needs_login(app_server) -> None:
    async with client() as s:
        async with s.get(app_server.url, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/login"
        async with s.get(app_server.url + "api/cameras") as resp:
            assert resp.status == 401
        async with s.get(app_server.url + "static/nvr.css") as resp:
            assert resp.status == 200


async def test_login_flow_and_session_cookie(app_server) -> None:
    async with client() as s:
        resp = await login(s, app_server.url, "admin", ADMIN_PASSWORD)
        assert resp.status == 303
        cookie = resp.cookies["nvr_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax"
        async with s.get(app_server.url) as page:
            html = await page.text()
            assert page.status == 200
            assert "menteng-1" in html and "gambir-1" in html
            assert ADMIN_PASSWORD not in html
            assert page.headers["X-Frame-Options"] == "DENY"
        stored = await app_server.runtime.catalog.get_user("admin")
        assert stored.password_hash.startswith("scrypt$") and ADMIN_PASSWORD not in stored.password_hash


async def test_login_needs_csrf_token(app_server) -> None:
    async with client() as s:
        async with s.get(app_server.url + "login"):
            pass
        async with s.post(app_server.url + "login", data={"username": "admin", "password": ADMIN_PASSWORD},
                          allow_redirects=False) as resp:
            assert resp.status == 403
            assert "csrf_token" in await resp.text()


async def test_wrong_password_and_throttle(app_server) -> None:
    async with client() as s:
        for _ in range(5):
            resp = await login(s, app_server.url, "admin", "wrong-password")
            assert resp.status == 401
            assert "Wrong username or password" in await resp.text()
        resp = await login(s, app_server.url, "admin", ADMIN_PASSWORD)
        assert resp.status == 429


async def test_post_without_csrf_is_refused_and_logout_works(app_server) -> None:
    async with client() as s:
        await login(s, app_server.url, "admin", ADMIN_PASSWORD)
        async with s.post(app_server.url + "logout", data={}, allow_redirects=False) as resp:
            assert resp.status == 403
        async with s.get(app_server.url) as page:
            token = csrf_of(await page.text())
        async with s.post(app_server.url + "logout", data={"csrf_token": token}, allow_redirects=False) as resp:
            assert resp.status == 303
        async with s.get(app_server.url, allow_redirects=False) as resp:
            assert resp.status == 303


async def test_kelurahan_scope_and_roles(app_server) -> None:
    await create_user(app_server.runtime.catalog, "piket-menteng", "menteng-password", "viewer", "Menteng")
    async with client() as s:
        await login(s, app_server.url, "piket-menteng", "menteng-password")
        async with s.get(app_server.url + "api/cameras") as resp:
            names = [c["name"] for c in (await resp.json())["cameras"]]
        assert names == ["menteng-1"]
        for path in ("", "cameras"):  # the dashboard and the camera table
            async with s.get(app_server.url + path) as page:
                html = await page.text()
            assert "menteng-1" in html and "gambir-1" not in html, path
        assert "Plugins" not in html  # admins only


async def test_open_redirect_is_refused(app_server) -> None:
    async with client() as s:
        async with s.get(app_server.url + "login") as resp:
            token = csrf_of(await resp.text())
        resp = await s.post(app_server.url + "login", data={"username": "admin", "password": ADMIN_PASSWORD,
                                                            "csrf_token": token, "next": "//evil.example/"},
                            allow_redirects=False)
        assert resp.headers["Location"] == "/"
