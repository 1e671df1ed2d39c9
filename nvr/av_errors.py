"""Maps PyAV/FFmpeg and OS errors of an RTSP connection to camera states with a detail safe to show."""

from __future__ import annotations

import errno

import av


def classify(exc: BaseException, *, opening: bool, elapsed_s: float, open_timeout_s: float) -> tuple[str, str]:
    """Map a PyAV/OS exception to ``(state, detail)``; the detail never contains the URL."""
    if isinstance(exc, av.error.HTTPUnauthorizedError):
        return "auth_failed", "401 Unauthorized: wrong user name or password"
    if isinstance(exc, av.error.HTTPForbiddenError):
        return "auth_failed", "403 Forbidden: this user may not open the stream"
    if isinstance(exc, av.error.HTTPNotFoundError):
        return "not_found", "404 Not Found: no stream at this path"
    if isinstance(exc, ConnectionRefusedError):
        return "offline", "connection refused"
    if isinstance(exc, (TimeoutError, av.error.ExitError)):
        return "offline", "timed out: no answer" if opening else "timed out"
    code = getattr(exc, "errno", None)
    if code in (errno.EHOSTUNREACH, errno.EHOSTDOWN):
        return "offline", "host unreachable"
    if code == errno.ENETUNREACH:
        return "offline", "network unreachable"
    if code in (errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE):
        return "offline", "connection reset"
    if opening and isinstance(exc, av.error.InvalidDataError) and elapsed_s >= open_timeout_s - 0.1:
        return "offline", "timed out: no answer"
    if isinstance(exc, av.error.HTTPServerError):
        return "error", "the camera answered with a server error (5xx)"
    if isinstance(exc, av.error.FFmpegError):
        return "error", f"{exc.strerror or type(exc).__name__}"
    return "error", f"{type(exc).__name__}: {exc}"
