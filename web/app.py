"""aiohttp application factory: middleware, templates, routes, static files."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from nvr.runtime import Runtime
from nvr.web import auth
from nvr.web.api_errors import api_errors
from nvr.web.keys import RUNTIME_KEY
from nvr.web.openapi import setup as setup_openapi
from nvr.web.routes import (
    admin,
    camera_page,
    cameras,
    dashboard,
    devices,
    events,
    exports,
    exports_page,
    internal_footage,
    live,
    metrics,
    nodes,
    storage,
    users,
)
from nvr.web.templating import ENV_KEY, make_env

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


@web.middleware
async def security_headers(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    """Headers every page gets: no framing, no sniffing, a strict CSP."""
    response = await handler(request)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; frame-ancestors 'none'",
    )
    return response


def create_app(runtime: Runtime) -> web.Application:
    """Build the web app for a running ``Runtime``."""
    app = web.Application(middlewares=[security_headers, api_errors, auth.auth_middleware])
    app[RUNTIME_KEY] = runtime
    app[ENV_KEY] = make_env()
    auth.setup(app)
    dashboard.setup(app)
    cameras.setup(app)
    camera_page.setup(app)
    events.setup(app)
    metrics.setup(app)
    exports.setup(app)
    exports_page.setup(app)
    admin.setup(app)
    devices.setup(app)
    users.setup(app)
    storage.setup(app)
    nodes.setup(app)
    live.setup(app)
    internal_footage.setup(app)  # node-to-node: other nodes fetch this node's segments (node signature)
    setup_openapi(app)
    for _, routes in runtime.plugins.call_sync("web_routes", runtime=runtime):
        app.router.add_routes(routes or [])
    app.router.add_static("/static/", STATIC_DIR, name="static")
    return app
