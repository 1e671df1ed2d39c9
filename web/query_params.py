"""Query-string parameters of pages and the JSON API, parsed in one place: errors name the parameter (400).

Every list endpoint pages the same way: ``limit`` (1 to the endpoint's maximum; larger values are clamped)
with either ``offset`` (lists of known size: the answer carries ``total``) or a keyset cursor
(``before_id``: lists that grow without bound, newest first). ``page_json`` and ``cursor_json`` build the
paging part of the answer, with ``next`` the URL of the following page or None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def _raw(request: web.Request, name: str) -> str | None:
    raw = request.query.get(name)
    return None if raw is None or raw.strip() == "" else raw.strip()


def text(request: web.Request, name: str, max_length: int = 200) -> str | None:
    """A free-text parameter, stripped; None when absent or empty."""
    raw = _raw(request, name)
    if raw is not None and len(raw) > max_length:
        raise web.HTTPBadRequest(text=f"{name}: at most {max_length} characters")
    return raw


def integer(request: web.Request, name: str, minimum: int | None = 0, maximum: int | None = None) -> int | None:
    """An integer parameter within ``[minimum, maximum]``; None when absent or empty."""
    raw = _raw(request, name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: not an integer: {raw!r}") from None
    _bounds(name, value, minimum, maximum)
    return value


def required_integer(request: web.Request, name: str, minimum: int | None = 0, what: str = "an integer") -> int:
    """An integer parameter that must be there (400 "name: required (what)" otherwise)."""
    value = integer(request, name, minimum)
    if value is None:
        raise web.HTTPBadRequest(text=f"{name}: required ({what})")
    return value


def number(request: web.Request, name: str, minimum: float | None = 0, maximum: float | None = None) -> float | None:
    """A finite number parameter within ``[minimum, maximum]``; None when absent or empty."""
    raw = _raw(request, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: not a number: {raw!r}") from None
    if not math.isfinite(value):
        raise web.HTTPBadRequest(text=f"{name}: not a number: {raw!r}")
    _bounds(name, value, minimum, maximum)
    return value


def _bounds(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise web.HTTPBadRequest(text=f"{name}: must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise web.HTTPBadRequest(text=f"{name}: must be at most {maximum:g}")


def moment(request: web.Request, name: str) -> int | None:
    """A date and time (ISO 8601, as a ``datetime-local`` field sends it; UTC unless it names a zone) as UTC µs."""
    raw = _raw(request, name)
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: a date and time like 2026-01-31T08:30, not {raw!r}") from None
    return int((when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp() * 1_000_000)


def boolean(request: web.Request, name: str) -> bool | None:
    """``true`` or ``false``; None when absent or empty."""
    raw = _raw(request, name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise web.HTTPBadRequest(text=f"{name}: use true or false, not {raw!r}")
    return raw == "true"


def choice(request: web.Request, name: str, choices: Iterable[str], default: str | None = None) -> str | None:
    """One of ``choices``; ``default`` when absent or empty."""
    options = tuple(choices)
    raw = _raw(request, name)
    if raw is None:
        return default
    if raw not in options:
        raise web.HTTPBadRequest(text=f"{name}: use {', '.join(options[:-1])} or {options[-1]}, not {raw!r}")
    return raw


def limit(request: web.Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """``limit``: at least 1, clamped to ``maximum``; ``default`` when absent."""
    value = integer(request, "limit", 1)
    return min(value or default, maximum)


@dataclass(frozen=True)
class Page:
    """An offset page: ``items[offset:offset + limit]``."""

    limit: int
    offset: int

    def cut(self, items: list[Any]) -> list[Any]:
        return items[self.offset:self.offset + self.limit]


def page(request: web.Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> Page:
    """``limit`` and ``offset`` (0 when absent)."""
    return Page(limit(request, default, maximum), integer(request, "offset", 0) or 0)


def _with(request: web.Request, **changes: Any) -> str:
    query = {k: v for k, v in request.query.items() if k not in changes}
    query.update({k: str(v) for k, v in changes.items()})
    return str(request.rel_url.with_query(query))


def page_json(request: web.Request, page_: Page, total: int) -> dict[str, Any]:
    """The paging part of an offset-paged answer: total, limit, offset, next (a URL, or None on the last page)."""
    following = page_.offset + page_.limit
    return {"total": total, "limit": page_.limit, "offset": page_.offset,
            "next": _with(request, offset=following, limit=page_.limit) if following < total else None}


def cursor_json(request: web.Request, limit_: int, last_id: int | None, count: int) -> dict[str, Any]:
    """The paging part of a keyset-paged answer: limit, next_before_id and next (None once a page came short)."""
    more = count >= limit_ and last_id is not None
    return {"limit": limit_, "next_before_id": last_id if more else None,
            "next": _with(request, before_id=last_id, limit=limit_) if more else None}
