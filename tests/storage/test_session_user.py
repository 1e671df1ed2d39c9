"""``session_user``: a session and its user in one round trip (every web request asks it), on every backend."""

from __future__ import annotations

from nvr.storage.catalog import Catalog

S = 1_000_000


async def test_session_user(catalog: Catalog) -> None:
    user = await catalog.create_user("ana", "scrypt$x", "viewer", "Menteng")
    session = await catalog.create_session("hash-1", user.id, "csrf-1", 10 * S)
    assert await catalog.session_user("hash-1") == (session, user)
    assert await catalog.session_user("hash-unknown") is None
    await catalog.set_user_disabled(user.id, True)
    found = await catalog.session_user("hash-1")
    assert found is None or found[1].disabled  # disabling ends the sessions, or the user shows as disabled
