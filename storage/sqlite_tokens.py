"""SQLite implementation of the catalog's API tokens (a mixin of ``SqliteCatalog``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from nvr.errors import CatalogError
from nvr.storage.tokens_catalog import ApiToken

__all__ = ["SqliteTokensMixin"]

_TOKEN = ("SELECT t.id, t.user_id, u.username, t.label, t.created_at, t.last_used_at, t.revoked_at"
          " FROM api_tokens t JOIN users u ON u.id = t.user_id")
USE_RESOLUTION_US = 60_000_000
"""``last_used_at`` is written at most once a minute per token (a scraper must not write on every request)."""


class SqliteTokensMixin:
    """Needs ``_call``, ``_write``, ``_c`` and ``_now`` from ``SqliteCatalog``."""

    _c: sqlite3.Connection
    _call: Callable[..., Any]
    _write: Callable[[], Any]
    _now: Callable[[], int]

    async def create_api_token(self, user_id: int, label: str, token_hash: str) -> ApiToken:
        if not label.strip():
            raise CatalogError("a token needs a label (what uses it)")
        return await self._call(self._create_token, user_id, label.strip(), token_hash)

    def _create_token(self, user_id: int, label: str, token_hash: str) -> ApiToken:
        with self._write() as c:
            if c.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
                raise CatalogError(f"unknown user id {user_id}")
            token_id = c.execute("INSERT INTO api_tokens (user_id, label, token_hash, created_at)"
                                 " VALUES (?, ?, ?, ?) RETURNING id",
                                 (user_id, label, token_hash, self._now())).fetchall()[0][0]
            return ApiToken(*c.execute(f"{_TOKEN} WHERE t.id = ?", (token_id,)).fetchone())

    async def api_token_user(self, token_hash: str, now_us: int) -> int | None:
        return await self._call(self._token_user, token_hash, now_us)

    def _token_user(self, token_hash: str, now_us: int) -> int | None:
        row = self._c.execute("SELECT id, user_id, last_used_at FROM api_tokens WHERE token_hash = ?"
                              " AND revoked_at IS NULL", (token_hash,)).fetchone()
        if row is None:
            return None
        if row[2] is None or now_us - row[2] >= USE_RESOLUTION_US:
            with self._write() as c:
                c.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now_us, row[0]))
        return int(row[1])

    async def list_api_tokens(self) -> list[ApiToken]:
        return await self._call(lambda: [ApiToken(*r) for r in self._c.execute(f"{_TOKEN} ORDER BY t.id DESC")])

    async def revoke_api_token(self, token_id: int, now_us: int) -> ApiToken:
        return await self._call(self._revoke, token_id, now_us)

    def _revoke(self, token_id: int, now_us: int) -> ApiToken:
        with self._write() as c:
            c.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now_us, token_id))
            row = c.execute(f"{_TOKEN} WHERE t.id = ?", (token_id,)).fetchone()
        if row is None:
            raise CatalogError(f"unknown token {token_id}")
        return ApiToken(*row)
