"""Typed keys for what the app and each request carry."""

from __future__ import annotations

from aiohttp import web

from nvr.models import User
from nvr.runtime import Runtime

RUNTIME_KEY = web.AppKey("runtime", Runtime)
USER_KEY = web.RequestKey("user", User)
CSRF_KEY = web.RequestKey("csrf_token", str)
