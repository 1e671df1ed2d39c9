"""Jinja environment and a helper that renders a template into a response."""

from __future__ import annotations

import weakref
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from nvr.web.keys import CSRF_KEY, RUNTIME_KEY, USER_KEY
from nvr.web.nav import nav_items

ENV_KEY = web.AppKey("jinja_env", jinja2.Environment)
_PLUGIN_TEMPLATES: weakref.WeakKeyDictionary[jinja2.Environment, dict[str, jinja2.Template]] = \
    weakref.WeakKeyDictionary()


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


def fragments(request: web.Request, slot: str, context: object) -> list[Markup]:
    """Plugins' HTML for ``slot`` of a page (``web_fragment`` hook), in plugin order."""
    runtime = request.app[RUNTIME_KEY]
    if not runtime.plugins.implements("web_fragment"):
        return []
    results = runtime.plugins.call_sync("web_fragment", slot=slot, context=context, user=request[USER_KEY],
                                        runtime=runtime)
    return [Markup(html) for _, html in results if isinstance(html, str) and html]


def plugin_template(request: web.Request, path: Path) -> jinja2.Template:
    """A plugin's own template file, compiled once in the app's environment (so it may extend ``base.html``)."""
    env = request.app[ENV_KEY]
    key = str(path.resolve())
    cache = _PLUGIN_TEMPLATES.setdefault(env, {})
    if key not in cache:
        cache[key] = env.from_string(path.read_text(encoding="utf-8"))
    return cache[key]


def render(request: web.Request, name: str | jinja2.Template, status: int = 200, **context: Any) -> web.Response:
    """Render ``name`` (a template of nvr's, or a plugin's from ``plugin_template``) with the request's user and
    CSRF token in the context."""
    env = request.app[ENV_KEY]
    user = request.get(USER_KEY)
    context.setdefault("user", user)
    context.setdefault("csrf_token", request.get(CSRF_KEY, ""))
    if "nav" not in context:
        context["nav"] = nav_items(user, request.app[RUNTIME_KEY]) if user is not None else []
    template = env.get_template(name) if isinstance(name, str) else name
    html = template.render(**context)
    return web.Response(text=html, status=status, content_type="text/html")
