"""The catalog's API tokens: bearer tokens for machines, each acting as one user."""

from __future__ import annotations

import abc
from dataclasses import dataclass

__all__ = ["ApiToken", "TokensCatalog"]


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token's record (never the token itself: only its SHA-256 is stored)."""

    id: int
    user_id: int
    username: str
    label: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


class TokensCatalog(abc.ABC):
    """Token storage; times in UTC µs."""

    @abc.abstractmethod
    async def create_api_token(self, user_id: int, label: str, token_hash: str) -> ApiToken:
        """Store a token's hash for ``user_id``; unknown user or empty label raises ``CatalogError``."""

    @abc.abstractmethod
    async def api_token_user(self, token_hash: str, now_us: int) -> int | None:
        """The user id of a live (not revoked) token, recording its use; None if unknown or revoked."""

    @abc.abstractmethod
    async def list_api_tokens(self) -> list[ApiToken]:
        """Every token, newest first."""

    @abc.abstractmethod
    async def revoke_api_token(self, token_id: int, now_us: int) -> ApiToken:
        """Revoke a token (idempotent); unknown id raises ``CatalogError``."""
