"""API errors as JSON: ``{"error": message, "field": name}`` with the right 4xx/5xx, for every ``/api/`` path."""

from __future__ import annotations

import json
import re

from aiohttp import web

from nvr.web.auth import Handler

_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\[\]]*): ")
"""Handlers write client errors as "field: what is wrong"; the prefix becomes ``field``."""


def error_body(status: int, text: str) -> dict[str, str | int | None]:
    """The JSON body for an error response: the message, the field it names (if any), and the status."""
    message = (text or "").strip()
    match = _FIELD.match(message)
    return {"error": message or str(status), "field": match.group(1) if match else None, "status": status}


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn plain-text HTTP errors of ``/api/`` routes into JSON; pages keep their text or HTML errors."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or (exc.content_type == "application/json" and _is_json(exc.text)):
            raise
        body = error_body(exc.status, exc.text or exc.reason)
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        return web.json_response(body, status=exc.status, headers=headers)


def _is_json(text: str | None) -> bool:
    try:
        json.loads(text or "")
    except ValueError:
        return False
    return True
