"""RTSP authentication as IP cameras do it: RFC 2617 Digest (MD5), optionally Basic."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def parse_auth_params(value: str) -> dict[str, str]:
    """Parse ``key=value, key="quoted"`` parameters of a Digest header (keys lowercased)."""
    return {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _PARAM.finditer(value)}


def digest_response(
    username: str,
    password: str,
    realm: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str = "",
    cnonce: str = "",
) -> str:
    """The RFC 2617 MD5 ``response`` value (also used by tests to act as a client)."""
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


@dataclass(frozen=True)
class Credentials:
    """Username and password one camera accepts."""

    username: str
    password: str

    def __repr__(self) -> str:  # never leak the password into logs
        return f"Credentials(username={self.username!r}, password='***')"


class DigestAuthenticator:
    """Issues challenges and checks ``Authorization`` headers against per-camera credentials.

    Nonces are stateless (random part + HMAC with a per-server secret), so any
    nonce this server issued stays valid for its lifetime, like most cameras.
    """

    def __init__(self, realm: str = "nvr-sim", allow_basic: bool = True) -> None:
        self.realm = realm
        self.allow_basic = allow_basic
        self._secret = os.urandom(16)

    def new_nonce(self) -> str:
        """A fresh nonce this server will accept."""
        rand = os.urandom(8).hex()
        return rand + hmac.new(self._secret, rand.encode(), hashlib.sha256).hexdigest()[:16]

    def nonce_valid(self, nonce: str) -> bool:
        """Whether ``nonce`` was issued by this server."""
        rand, mac = nonce[:16], nonce[16:]
        expected = hmac.new(self._secret, rand.encode(), hashlib.sha256).hexdigest()[:16]
        return len(nonce) == 32 and hmac.compare_digest(mac, expected)

    def challenge(self) -> str:
        """Value of the ``WWW-Authenticate`` header for a 401 response."""
        return f'Digest realm="{self.realm}", nonce="{self.new_nonce()}", algorithm=MD5'

    def check(self, method: str, authorization: str | None, credentials: Credentials) -> bool:
        """True if ``authorization`` proves knowledge of ``credentials`` for this request."""
        if not authorization:
            return False
        scheme, _, rest = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and self.allow_basic:
            return self._check_basic(rest.strip(), credentials)
        if scheme == "digest":
            return self._check_digest(method, parse_auth_params(rest), credentials)
        return False

    def _check_basic(self, token: str, credentials: Credentials) -> bool:
        try:
            user, _, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, credentials.username) and hmac.compare_digest(password, credentials.password)

    def _check_digest(self, method: str, params: dict[str, str], credentials: Credentials) -> bool:
        needed = ("username", "realm", "nonce", "uri", "response")
        if any(k not in params for k in needed):
            return False
        if params.get("algorithm", "MD5").upper() != "MD5":
            return False
        if params["realm"] != self.realm or not self.nonce_valid(params["nonce"]):
            return False
        if not hmac.compare_digest(params["username"], credentials.username):
            return False
        qop = params.get("qop")
        if qop and qop != "auth":
            return False
        expected = digest_response(
            credentials.username,
            credentials.password,
            self.realm,
            method,
            params["uri"],
            params["nonce"],
            qop,
            params.get("nc", ""),
            params.get("cnonce", ""),
        )
        return hmac.compare_digest(expected, params["response"].lower())
