"""User accounts: creating them and the first admin at startup."""

from __future__ import annotations

import asyncio
import os

from nvr.errors import CatalogError
from nvr.models import ROLES, User
from nvr.passwords import generate_password, hash_password
from nvr.storage.catalog import Catalog

ADMIN_PASSWORD_ENV = "NVR_ADMIN_PASSWORD"


async def create_user(catalog: Catalog, username: str, password: str, role: str = "operator",
                      kelurahan: str | None = None) -> User:
    """Hash the password off the event loop and store the user."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not username or len(password) < 8:
        raise ValueError("a user needs a name and a password of at least 8 characters")
    hashed = await asyncio.to_thread(hash_password, password)
    return await catalog.create_user(username, hashed, role, kelurahan)


async def ensure_admin(catalog: Catalog, username: str = "admin") -> str | None:
    """Create the first admin if there are no users.

    Returns the new password (from ``$NVR_ADMIN_PASSWORD`` or generated) so the
    caller can show it once on the terminal; returns None when users exist.
    The password is never logged.
    """
    if await catalog.count_users() > 0:
        return None
    password = os.environ.get(ADMIN_PASSWORD_ENV) or generate_password()
    try:
        await create_user(catalog, username, password, role="admin")
    except CatalogError:
        if await catalog.get_user(username) is None:
            raise
        return None  # another node sharing the catalog created it at the same moment
    return password
