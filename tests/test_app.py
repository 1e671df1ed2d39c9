"""The server's lifecycle: start order, reload without touching other cameras, signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from nvr.errors import ConfigError
from tests.helpers import closed_port

CAM = '''
[[cameras]]
name = "{name}"
stream = {{ main = "rtsp://127.0.0.1:{port}/{name}" }}
'''


async def test_reload_touches_only_changed_cameras(write_config, start_server) -> None:
    port = closed_port()
    path = write_config(CAM.format(name="a", port=port) + CAM.format(name="b", port=port))
    async with start_server(path) as server:
        registry = server.runtime.cameras
        worker_a, worker_b = registry.worker("a"), registry.worker("b")
        path.write_text(path.read_text().replace('"b"', '"b2"').replace("/b\"", "/b2\"")
                        + CAM.format(name="c", port=port))
        summary = await server.reload()
        assert summary.unchanged == ["a"] and summary.added == ["b2", "c"] and summary.removed == ["b"]
        assert registry.worker("a") is worker_a  # untouched
        assert registry.worker("b") is None and worker_b._task is None
        assert [s.name for s in registry.statuses()] == ["a", "b2", "c"]
        removed = await server.runtime.catalog.get_camera("b")
        assert removed.removed


async def test_reload_keeps_restart_only_sections(write_config, start_server) -> None:
    path = write_config(CAM.format(name="a", port=closed_port()))
    async with start_server(path) as server:
        before = server.runtime.config
        path.write_text(path.read_text().replace("port = 0", "port = 0\nsession_hours = 1")
                        .replace('root = "storage"', 'root = "elsewhere"'))
        await server.reload()
        assert server.runtime.config.server == before.server
        assert server.runtime.config.storage == before.storage


async def test_invalid_reload_keeps_running_config(write_config, start_server) -> None:
    path = write_config(CAM.format(name="a", port=closed_port()))
    async with start_server(path) as server:
        before = server.runtime.config
        path.write_text(path.read_text() + "\n[bogus]\nx = 1\n")
        result = await server.reload()
        assert isinstance(result, ConfigError)
        assert [p.key for p in result.problems] == ["bogus"]
        assert server.runtime.config is before
        assert server.runtime.cameras.worker("a") is not None


async def test_bad_config_stops_nothing_half_started(write_config, start_server) -> None:
    path = write_config('[[cameras]]\nname = "x"\n')
    with pytest.raises(ConfigError) as err:
        async with start_server(path):
            pass
    assert err.value.problems[0].key == "cameras[0].stream.main"


class Output:
    """Collects a subprocess's merged output on a thread so the test can wait for lines."""

    def __init__(self, proc: subprocess.Popen):
        self.text = ""
        self._thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self._thread.start()

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.text += line

    def wait_for(self, needle: str, timeout: float = 30.0, start: int = 0) -> int:
        """Wait until ``needle`` appears after offset ``start``; return the offset past it."""
        deadline = time.monotonic() + timeout
        while (pos := self.text.find(needle, start)) < 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen within {timeout} s; output:\n{self.text}")
            time.sleep(0.05)
        return pos + len(needle)


@pytest.mark.slow
def test_run_sighup_and_sigterm(tmp_path: Path) -> None:
    port = closed_port()
    config = tmp_path / "nvr.toml"
    base = '[server]\nport = 0\n[storage]\nroot = "storage"\n'
    config.write_text(base + textwrap.dedent(CAM.format(name="a", port=port)))
    env = {**os.environ, "NVR_ADMIN_PASSWORD": "first-admin-pass", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nvr", "run", "-c", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    try:
        out = Output(proc)
        pos = out.wait_for("nvr is running at http://127.0.0.1:")
        assert "Created the first admin user: admin / first-admin-pass" in out.text
        config.write_text(config.read_text() + textwrap.dedent(CAM.format(name="b", port=port)))
        proc.send_signal(signal.SIGHUP)
        pos = out.wait_for("added ['b']", start=pos)
        config.write_text(config.read_text() + "\n[cameras.bogus]\n")
        proc.send_signal(signal.SIGHUP)
        out.wait_for("config reload rejected", start=pos)
        assert proc.poll() is None
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
        time.sleep(0.2)
        assert out.text.count("first-admin-pass") == 1  # shown once on start, never logged
    finally:
        if proc.poll() is None:
            proc.kill()
    # A second start finds the admin and prints no password.
    config.write_text(base)
    proc = subprocess.Popen([sys.executable, "-m", "nvr", "run", "-c", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        out = Output(proc)
        out.wait_for("nvr is running at")
        assert "Created the first admin" not in out.text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
