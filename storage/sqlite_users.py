"""SQLite implementation of the catalog's users and login sessions (a mixin of ``SqliteCatalog``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from nvr.errors import CatalogError
from nvr.models import Session, User
from nvr.storage.catalog import validate_role

__all__ = ["SqliteUsersMixin"]

_USER = "id, username, password_hash, role, kelurahan, created_at, disabled"
_SESS = "token_hash, user_id, csrf_token, created_at, expires_at, last_seen_at"


def _user(*row: Any) -> User:
    return User(*row[:6], disabled=bool(row[6]))


class SqliteUsersMixin:
    """Needs ``_call``, ``_write``, ``_one``, ``_all``, ``_change``, ``_c`` and ``_now`` from ``SqliteCatalog``."""

    _c: sqlite3.Connection
    _call: Callable[..., Any]
    _write: Callable[[], Any]
    _one: Callable[..., Any]
    _all: Callable[..., Any]
    _change: Callable[[str, Sequence[Any]], int]
    _now: Callable[[], int]

    # -- users -----------------------------------------------------------------

    async def create_user(self, username: str, password_hash: str, role: str,
                          kelurahan: str | None = None) -> User:
        validate_role(role, kelurahan)
        if not username:
            raise CatalogError("username must not be empty")
        return await self._call(self._create_user, username, password_hash, role, kelurahan)

    def _create_user(self, username: str, password_hash: str, role: str, kelurahan: str | None) -> User:
        with self._write() as c:
            if c.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                raise CatalogError(f"user {username!r} already exists")
            row = c.execute(
                "INSERT INTO users (username, password_hash, role, kelurahan, created_at, disabled)"
                f" VALUES (?, ?, ?, ?, ?, ?) RETURNING {_USER}",
                (username, password_hash, role, kelurahan, self._now(), False),
            ).fetchall()[0]
            return _user(*row)

    async def get_user(self, username: str) -> User | None:
        return await self._call(self._one, f"SELECT {_USER} FROM users WHERE username = ?", (username,), _user)

    async def get_user_by_id(self, user_id: int) -> User | None:
        return await self._call(self._one, f"SELECT {_USER} FROM users WHERE id = ?", (user_id,), _user)

    async def list_users(self) -> list[User]:
        return await self._call(self._all, f"SELECT {_USER} FROM users ORDER BY username", (), _user)

    async def count_users(self) -> int:
        return await self._call(lambda: int(self._c.execute("SELECT COUNT(*) FROM users").fetchone()[0]))

    async def set_user_disabled(self, user_id: int, disabled: bool) -> User:
        return await self._call(self._update_user, user_id, "disabled", bool(disabled), disabled)

    async def set_password_hash(self, user_id: int, password_hash: str) -> User:
        return await self._call(self._update_user, user_id, "password_hash", password_hash, True)

    async def set_user_role(self, user_id: int, role: str, kelurahan: str | None) -> User:
        validate_role(role, kelurahan)
        user = await self._call(self._update_user, user_id, "role", role, True)
        return await self._call(self._update_user, user.id, "kelurahan", kelurahan or None, True)

    def _update_user(self, user_id: int, column: str, value: Any, drop_sessions: bool) -> User:
        assert column in ("disabled", "password_hash", "role", "kelurahan")
        with self._write() as c:
            rows = c.execute(f"UPDATE users SET {column} = ? WHERE id = ? RETURNING {_USER}",
                             (value, user_id)).fetchall()
            if not rows:
                raise CatalogError(f"unknown user id {user_id}")
            if drop_sessions:
                c.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            return _user(*rows[0])

    # -- sessions --------------------------------------------------------------

    async def create_session(self, token_hash: str, user_id: int, csrf_token: str,
                             expires_at_us: int) -> Session:
        return await self._call(self._create_session, token_hash, user_id, csrf_token, expires_at_us)

    def _create_session(self, token_hash: str, user_id: int, csrf_token: str, expires_at_us: int) -> Session:
        now = self._now()
        with self._write() as c:
            if not c.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone():
                raise CatalogError(f"cannot create session: unknown user id {user_id}")
            if c.execute("SELECT 1 FROM sessions WHERE token_hash = ?", (token_hash,)).fetchone():
                raise CatalogError("session token hash already exists")
            row = c.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, last_seen_at)"
                f" VALUES (?, ?, ?, ?, ?, ?) RETURNING {_SESS}",
                (token_hash, user_id, csrf_token, now, expires_at_us, now),
            ).fetchall()[0]
            return Session(*row)

    async def get_session(self, token_hash: str) -> Session | None:
        return await self._call(self._one, f"SELECT {_SESS} FROM sessions WHERE token_hash = ?",
                                (token_hash,), Session)

    async def session_user(self, token_hash: str) -> tuple[Session, User | None] | None:
        return await self._call(self._session_user, token_hash)

    def _session_user(self, token_hash: str) -> tuple[Session, User | None] | None:
        session = self._one(f"SELECT {_SESS} FROM sessions WHERE token_hash = ?", (token_hash,), Session)
        if session is None:
            return None
        return session, self._one(f"SELECT {_USER} FROM users WHERE id = ?", (session.user_id,), _user)

    async def touch_session(self, token_hash: str, now_us: int, expires_at_us: int | None = None) -> bool:
        sql = ("UPDATE sessions SET last_seen_at = ?, expires_at = COALESCE(?, expires_at)"
               " WHERE token_hash = ?")
        return await self._call(self._change, sql, (now_us, expires_at_us, token_hash)) > 0

    async def delete_session(self, token_hash: str) -> bool:
        return await self._call(self._change, "DELETE FROM sessions WHERE token_hash = ?", (token_hash,)) > 0

    async def delete_user_sessions(self, user_id: int) -> int:
        return await self._call(self._change, "DELETE FROM sessions WHERE user_id = ?", (user_id,))

    async def delete_expired_sessions(self, now_us: int) -> int:
        return await self._call(self._change, "DELETE FROM sessions WHERE expires_at <= ?", (now_us,))
