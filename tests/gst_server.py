"""Run ``scripts/gst_rtsp_server.py`` (GStreamer's RTSP server) as an independent RTSP source for tests.

The script needs GStreamer's Python bindings from Debian, so it runs under the
system Python (``/usr/bin/python3``), not the virtual environment::

    with gst_rtsp_server(2, width=320, height=240) as urls:
        ...  # urls == ["rtsp://127.0.0.1:PORT/cam1", "rtsp://127.0.0.1:PORT/cam2"]

Keyword options map to the script's flags (``one_encoder=True`` ->
``--one-encoder``; ``None``/``False`` leave a flag out). ``require_gst()``
skips a test when the bindings are missing, unless ``NVR_REQUIRE_GST`` is set
(``scripts/test`` sets it), in which case the test fails instead.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gst_rtsp_server.py"
GST_PYTHON = os.environ.get("NVR_GST_PYTHON", "/usr/bin/python3")

_CHECK = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
    "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
    "missing = [e for e in ('videotestsrc', 'clockoverlay', 'x264enc', 'rtph264pay')"
    " if Gst.ElementFactory.find(e) is None];"
    "print('missing GStreamer elements: ' + ', '.join(missing) if missing else 'ok')"
)


class GstServerError(RuntimeError):
    """The GStreamer RTSP server script did not start."""


@functools.lru_cache(maxsize=1)
def gst_unavailable_reason() -> str | None:
    """Why the GStreamer RTSP server cannot run here, or None when it can."""
    if not os.path.exists(GST_PYTHON):
        return f"{GST_PYTHON} not found"
    try:
        out = subprocess.run([GST_PYTHON, "-c", _CHECK], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {GST_PYTHON}: {exc}"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return f"GStreamer Python bindings (gi, GstRtspServer) missing under {GST_PYTHON}: {last}"
    if out.stdout.strip() != "ok":
        return out.stdout.strip()
    return None


def require_gst() -> None:
    """Skip (or, with ``NVR_REQUIRE_GST`` set, fail) unless the GStreamer RTSP server can run."""
    reason = gst_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("NVR_REQUIRE_GST"):
        pytest.fail(f"{reason}; scripts/setup --test installs python3-gi and gir1.2-gst-rtsp-server-1.0")
    pytest.skip(f"{reason} (scripts/setup --test installs them; set NVR_REQUIRE_GST=1 to make this an error)")


def script_args(count: int, opts: dict[str, Any]) -> list[str]:
    """Command-line flags for ``count`` streams and keyword options."""
    args = ["--count", str(count)]
    opts = {"port": 0, **opts}
    for key, value in opts.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        args += [flag] if value is True else [flag, str(value)]
    return args


def _stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def gst_rtsp_server(count: int = 1, *, start_timeout: float = 30.0, **opts: Any) -> Iterator[list[str]]:
    """Start the script with ``count`` streams, wait for READY, yield the URLs, then SIGTERM it.

    Raises ``GstServerError`` (with the script's stderr) if it exits or does
    not report READY within ``start_timeout`` seconds.
    """
    with tempfile.TemporaryFile() as errfile:
        proc = subprocess.Popen(
            [GST_PYTHON, str(SCRIPT), *script_args(count, opts)],
            stdout=subprocess.PIPE, stderr=errfile, stdin=subprocess.DEVNULL, cwd=REPO,
        )

        def stderr_text() -> str:
            errfile.seek(0)
            return errfile.read().decode(errors="replace").strip()

        try:
            assert proc.stdout is not None
            deadline = time.monotonic() + start_timeout
            line = b""
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                while not line.endswith(b"\n"):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise GstServerError(f"gst_rtsp_server.py did not report READY within {start_timeout:.0f} s; "
                                             f"stderr:\n{stderr_text()}")
                    if not sel.select(left):
                        continue
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        proc.wait(5)
                        raise GstServerError(f"gst_rtsp_server.py exited with status {proc.returncode} before READY; "
                                             f"stderr:\n{stderr_text()}")
                    line += chunk
            words = line.decode().split()
            if not words or words[0] != "READY":
                raise GstServerError(f"unexpected first line from gst_rtsp_server.py: {line!r}; "
                                     f"stderr:\n{stderr_text()}")
            yield words[1:]
        finally:
            _stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()
