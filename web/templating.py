"""Jinja environment and a helper that renders a template into a response."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import jinja2
from aiohttp import web

from nvr.web.keys import CSRF_KEY, USER_KEY

ENV_KEY = web.AppKey("jinja_env", jinja2.Environment)


def utc(seconds: int | float, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A Unix time as UTC text (the ``utc`` template filter)."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime(fmt)


def make_env() -> jinja2.Environment:
    """Templates from the package, HTML autoescaped."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nvr.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["utc"] = utc
    return env


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    """Render ``name`` with the request's user and CSRF token in the context."""
    env = request.app[ENV_KEY]
    context.setdefault("user", request.get(USER_KEY))
    context.setdefault("csrf_token", request.get(CSRF_KEY, ""))
    html = env.get_template(name).render(**context)
    return web.Response(text=html, status=status, content_type="text/html")
