"""RTSP URLs with credentials, and scrubbing credentials out of anything that is logged or shown."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")


def credential_url(url: str, username: str | None, password: str | None) -> str:
    """``url`` with percent-encoded ``user:password@`` (replacing any userinfo it had)."""
    if username is None and password is None:
        return url
    parts = urlsplit(url)
    userinfo = quote(username or "", safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def scrub(text: str, *secrets: str | None) -> str:
    """Remove URL userinfo and any of ``secrets`` (raw or percent-encoded) from ``text``."""
    text = _USERINFO.sub(r"\1", text)
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, "***")
    return text
