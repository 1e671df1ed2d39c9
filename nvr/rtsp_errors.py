"""Why an RTSP session failed, as recorder states: auth_failed, not_found, offline or error."""

from __future__ import annotations

import errno


class RtspError(Exception):
    """An RTSP failure with the recorder ``state`` it means and a detail for people (never a URL)."""

    state = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RtspStatusError(RtspError):
    """The camera answered a request with an error status."""

    def __init__(self, method: str, status: int, reason: str = "") -> None:
        self.method, self.status = method, status
        if status == 401:
            self.state, detail = "auth_failed", "401 Unauthorized: wrong user name or password"
        elif status == 403:
            self.state, detail = "auth_failed", "403 Forbidden: this user may not open the stream"
        elif status == 404:
            self.state, detail = "not_found", "404 Not Found: no stream at this path"
        elif status >= 500:
            detail = f"the camera answered {method} with a server error ({status} {reason})".rstrip()
        else:
            detail = f"the camera answered {method} with {status} {reason}".rstrip()
        super().__init__(detail)


class RtspProtocolError(RtspError):
    """The camera sent something that is not RTSP/RTP as we know it."""


class NoMediaError(RtspError):
    """The session has no video track this recorder can store."""


def classify(exc: BaseException, *, opening: bool) -> tuple[str, str]:
    """Map an exception from a session to ``(state, detail)``; the detail never contains the URL."""
    if isinstance(exc, RtspError):
        return exc.state, exc.detail
    if isinstance(exc, ConnectionRefusedError):
        return "offline", "connection refused"
    if isinstance(exc, TimeoutError):
        return "offline", "timed out: no answer" if opening else "timed out"
    code = getattr(exc, "errno", None)
    if code in (errno.EHOSTUNREACH, errno.EHOSTDOWN):
        return "offline", "host unreachable"
    if code == errno.ENETUNREACH:
        return "offline", "network unreachable"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)) or \
            code in (errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE):
        return "offline", "connection reset"
    if isinstance(exc, OSError):
        return "offline", exc.strerror or type(exc).__name__
    return "error", f"{type(exc).__name__}: {exc}"
