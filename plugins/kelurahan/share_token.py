"""Share-link tokens: ``<id>.<expires_s>.<signature>``, HMAC-SHA256 over what the link shows (pure functions)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

_TOKEN_RE = re.compile(r"^(\d{1,18})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a well-formed, correctly signed token says; the catalog still decides if it is live."""

    share_id: int
    expires_s: int


def _message(share_id: int, expires_s: int, camera: str, kind: str, start_us: int | None, end_us: int | None) -> bytes:
    return f"nvr-share/1|{share_id}|{expires_s}|{camera}|{kind}|{start_us}|{end_us}".encode()


def sign(key: bytes, share_id: int, expires_s: int, camera: str, kind: str, start_us: int | None = None,
         end_us: int | None = None) -> str:
    """The token for a share link (43 base64url characters of signature)."""
    mac = hmac.new(key, _message(share_id, expires_s, camera, kind, start_us, end_us), hashlib.sha256).digest()
    return f"{share_id}.{expires_s}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def parse(token: str) -> TokenClaims | None:
    """The id and expiry a token claims, or None when it is malformed (nothing is trusted yet)."""
    m = _TOKEN_RE.match(token)
    return None if m is None else TokenClaims(int(m.group(1)), int(m.group(2)))


def verify(key: bytes, token: str, camera: str, kind: str, start_us: int | None, end_us: int | None) -> bool:
    """Whether ``token`` is exactly the signature of this share (constant-time comparison)."""
    claims = parse(token)
    if claims is None:
        return False
    want = sign(key, claims.share_id, claims.expires_s, camera, kind, start_us, end_us)
    return hmac.compare_digest(want.encode(), token.encode())
