"""RTSP client authentication: answer a 401's Basic or Digest (RFC 2617, MD5) challenge on every request."""

from __future__ import annotations

import base64
import hashlib
import os
import re

_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def auth_params(header: str) -> dict[str, str]:
    """``key=value, key="quoted"`` parameters of a challenge (keys lower case)."""
    return {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
            for m in _PARAM.finditer(header)}


def pick_challenge(challenges: list[str]) -> str | None:
    """The challenge to answer: Digest (MD5) if offered, else Basic, else None."""
    digest = [c for c in challenges if c.strip().lower().startswith("digest")]
    usable = [c for c in digest if auth_params(c).get("algorithm", "MD5").upper() in ("MD5", "MD5-SESS")]
    if usable:
        return usable[0]
    return next((c for c in challenges if c.strip().lower().startswith("basic")), None)


class Credentials:
    """Answers one challenge for a user; Digest requests count their nonce use (``nc``) when qop=auth."""

    def __init__(self, username: str, password: str, challenge: str) -> None:
        self.username, self._password = username, password
        self.scheme = challenge.strip().split(None, 1)[0].lower()
        self._params = auth_params(challenge)
        self._count = 0
        self._cnonce = os.urandom(8).hex()

    def __repr__(self) -> str:
        return f"Credentials({self.username!r}, scheme={self.scheme!r})"

    @property
    def stale(self) -> bool:
        """The server said the nonce expired (``stale=true``): answer the new challenge instead."""
        return self._params.get("stale", "").lower() == "true"

    def header(self, method: str, uri: str) -> str:
        """The ``Authorization`` header value for one request."""
        if self.scheme == "basic":
            token = base64.b64encode(f"{self.username}:{self._password}".encode()).decode()
            return f"Basic {token}"
        params = self._params
        realm, nonce = params.get("realm", ""), params.get("nonce", "")
        ha1 = _md5(f"{self.username}:{realm}:{self._password}")
        if params.get("algorithm", "").upper() == "MD5-SESS":
            ha1 = _md5(f"{ha1}:{nonce}:{self._cnonce}")
        ha2 = _md5(f"{method}:{uri}")
        fields = [f'username="{self.username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
        if "auth" in [q.strip() for q in params.get("qop", "").split(",")]:
            self._count += 1
            nc = f"{self._count:08x}"
            response = _md5(f"{ha1}:{nonce}:{nc}:{self._cnonce}:auth:{ha2}")
            fields += [f'response="{response}"', "qop=auth", f"nc={nc}", f'cnonce="{self._cnonce}"']
        else:
            fields.append(f'response="{_md5(f"{ha1}:{nonce}:{ha2}")}"')
        if "opaque" in params:
            fields.append(f'opaque="{params["opaque"]}"')
        if "algorithm" in params:
            fields.append(f"algorithm={params['algorithm']}")
        return "Digest " + ", ".join(fields)


def authorization(challenge: str, method: str, uri: str, user: str, password: str) -> str:
    """One ``Authorization`` header answering a WWW-Authenticate challenge."""
    return Credentials(user, password, challenge).header(method, uri)
