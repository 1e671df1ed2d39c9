"""Signatures of the internal node-to-node API: HMAC-SHA256 with the shared ``[cluster] secret``, short-lived."""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["HEADER", "MAX_AGE_S", "sign", "verify"]

HEADER = "X-NVR-Node-Auth"
"""Request header: ``<node>:<expires unix s>:<hex HMAC>``."""
MAX_AGE_S = 60
"""A signature is good for this long (and no longer in the future than this)."""


def _mac(secret: str, method: str, path: str, node: str, expires: int) -> str:
    message = f"{method} {path} {node} {expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, method: str, path: str, node: str, now: float | None = None) -> str:
    """The header value node ``node`` sends for ``method path``."""
    expires = int((time.time() if now is None else now) + MAX_AGE_S)
    return f"{node}:{expires}:{_mac(secret, method, path, node, expires)}"


def verify(secret: str, method: str, path: str, value: str | None, now: float | None = None) -> str | None:
    """The calling node's name when ``value`` is a valid, unexpired signature of ``method path``; else None."""
    if not secret or not value or value.count(":") < 2:
        return None
    node, expires_text, mac = value.rsplit(":", 2)
    if not expires_text.isdigit():
        return None
    expires, now = int(expires_text), time.time() if now is None else now
    if not now <= expires <= now + MAX_AGE_S:
        return None
    return node if hmac.compare_digest(mac, _mac(secret, method, path, node, expires)) else None
