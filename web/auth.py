"""Login sessions, the auth and CSRF middleware, and role checks.

Every route needs a logged-in user except the login page and static assets.
Session cookies hold a random token; the catalog keeps only its SHA-256.
State-changing requests must carry the session's CSRF token (form field
``csrf_token`` or header ``X-CSRF-Token``); the login form uses a
double-submit cookie because there is no session yet.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections import defaultdict, deque
from typing import Awaitable, Callable

from aiohttp import web

from nvr.passwords import verify_password
from nvr.web.keys import CSRF_KEY, RUNTIME_KEY, USER_KEY
from nvr.web.permissions import ROLE_RANK, in_scope  # noqa: F401 - re-exported for routes
from nvr.web.templating import render

log = logging.getLogger(__name__)

SESSION_COOKIE = "nvr_session"
LOGIN_CSRF_COOKIE = "nvr_login_csrf"
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = ("/login", "/healthz")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_FAIL_WINDOW_S = 300
_FAIL_LIMIT = 5


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now_us() -> int:
    return time.time_ns() // 1000


class LoginThrottle:
    """Refuse logins for a name after 5 failures in 5 minutes (per name and client)."""

    def __init__(self) -> None:
        self._fails: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def blocked(self, key: tuple[str, str]) -> bool:
        q = self._fails[key]
        while q and q[0] < time.monotonic() - _FAIL_WINDOW_S:
            q.popleft()
        return len(q) >= _FAIL_LIMIT

    def failed(self, key: tuple[str, str]) -> None:
        self._fails[key].append(time.monotonic())

    def succeeded(self, key: tuple[str, str]) -> None:
        self._fails.pop(key, None)


THROTTLE_KEY = web.AppKey("login_throttle", LoginThrottle)


PUBLIC_ATTR = "nvr_public"


def public_route(handler: Handler) -> Handler:
    """Mark a GET handler as open without login (a plugin's public page); it must decide itself what it shows."""
    setattr(handler, PUBLIC_ATTR, True)
    return handler


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the user from the session cookie or refuse the request."""
    runtime = request.app[RUNTIME_KEY]
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer "):  # a machine: no cookies, so no CSRF to check
        user_id = await runtime.catalog.api_token_user(token_hash(bearer[7:].strip()), _now_us())
        user = await runtime.catalog.get_user_by_id(user_id) if user_id is not None else None
        if user is None or user.disabled:
            raise web.HTTPUnauthorized(text='{"error": "unknown or revoked API token"}',
                                       content_type="application/json")
        request[USER_KEY] = user
        request[CSRF_KEY] = ""
        return await handler(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        found = await runtime.catalog.session_user(token_hash(token))  # one catalog round trip, not two
        if found is not None and not found[0].is_expired(_now_us()):
            session, user = found
            if user is not None and not user.disabled:
                request[USER_KEY] = user
                request[CSRF_KEY] = session.csrf_token
    if _is_public(request.path) or (request.method in SAFE_METHODS
                                    and getattr(request.match_info.handler, PUBLIC_ATTR, False)):
        return await handler(request)
    if USER_KEY not in request:
        if _wants_json(request):
            raise web.HTTPUnauthorized(text='{"error": "login required"}', content_type="application/json")
        raise web.HTTPSeeOther(f"/login?next={request.rel_url.path_qs}" if request.path != "/" else "/login")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token")
        if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sent = (await request.post()).get("csrf_token")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, request[CSRF_KEY]):
            raise web.HTTPForbidden(text="CSRF token missing or wrong (field csrf_token)")
    return await handler(request)


def require_role(role: str) -> Callable[[Handler], Handler]:
    """Decorator: 403 unless the user's role ranks at least ``role``."""

    def wrap(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            user = request[USER_KEY]
            if ROLE_RANK.get(user.role, -1) < ROLE_RANK[role]:
                raise web.HTTPForbidden(text=f"this page needs the {role} role")
            return await handler(request)

        checked.__name__ = handler.__name__
        checked.__doc__ = handler.__doc__
        return checked

    return wrap


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def login_page(request: web.Request) -> web.StreamResponse:
    """GET /login: the form, with a fresh double-submit CSRF cookie."""
    if USER_KEY in request:
        raise web.HTTPSeeOther(_safe_next(request.query.get("next")))
    # Reuse the browser's token if it has one, so a second tab (or a stray
    # sub-request) does not invalidate a form already on screen.
    existing = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    csrf = existing if len(existing) >= 32 else secrets.token_urlsafe(24)
    response = render(request, "login.html", csrf_token=csrf, error=None,
                      next=_safe_next(request.query.get("next")), username="")
    response.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="Strict", secure=request.secure)
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    """POST /login: check CSRF, throttle, password; start a session."""
    runtime = request.app[RUNTIME_KEY]
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    next_url = _safe_next(str(form.get("next", "/")))
    cookie_csrf = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie_csrf or not hmac.compare_digest(cookie_csrf, str(form.get("csrf_token", ""))):
        raise web.HTTPForbidden(text="CSRF token missing or wrong (field csrf_token); reload the login page")
    throttle = request.app[THROTTLE_KEY]
    key = (username.lower(), request.remote or "")

    def fail(message: str, status: int) -> web.Response:
        csrf = secrets.token_urlsafe(24)
        resp = render(request, "login.html", status=status, csrf_token=csrf, error=message,
                      next=next_url, username=username)
        resp.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="Strict", secure=request.secure)
        return resp

    if throttle.blocked(key):
        return fail("Too many failed logins; wait 5 minutes.", 429)
    if not username or not password:
        return fail("Enter a username and password (fields username, password).", 400)
    user = await runtime.catalog.get_user(username)
    ok = user is not None and not user.disabled and await asyncio.to_thread(
        verify_password, password, user.password_hash)
    if not ok or user is None:
        throttle.failed(key)
        log.warning("failed login for user %r from %s", username, request.remote)
        await runtime.catalog.audit(username[:64], "login.failed", f"user:{username[:64]}",
                                    {"remote": request.remote})
        return fail("Wrong username or password.", 401)
    throttle.succeeded(key)
    token = secrets.token_urlsafe(32)
    hours = runtime.config.server.session_hours
    await runtime.catalog.create_session(token_hash(token), user.id, secrets.token_urlsafe(32),
                                         _now_us() + int(hours * 3600e6))
    log.info("user %s logged in from %s", user.username, request.remote)
    await runtime.catalog.audit(user.username, "login", f"user:{user.username}", {"remote": request.remote})
    response = web.HTTPSeeOther(next_url)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Lax", secure=request.secure,
                        max_age=int(hours * 3600))
    response.del_cookie(LOGIN_CSRF_COOKIE)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """POST /logout: end the session (CSRF checked by the middleware)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await request.app[RUNTIME_KEY].catalog.delete_session(token_hash(token))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE)
    raise response


def setup(app: web.Application) -> None:
    app[THROTTLE_KEY] = LoginThrottle()
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
