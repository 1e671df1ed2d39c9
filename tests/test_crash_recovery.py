"""Crash safety end to end: ``kill -9`` of ``nvr run`` while it records, then restart, recover and check.

(a) Ten kills in a row at different moments of a segment: after every restart
the bounded crash recovery has run and ``nvr check-storage`` exits 0; a clean
stop then records its marker and the next start checks only the latest
folders; at the end every indexed segment plays and each camera lost at most
the open fragment at each kill.
(b) A nearly full filesystem (a small tmpfs, root only): the retention
emergency sweep frees space, recording goes on, held footage stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import av
import pytest

from nvr.models import MEDIA_TIMEBASE
from nvr.sim.fleet import SimFleet
from nvr.storage.catalog import Catalog, open_catalog
from nvr.storage.layout import PARTIAL_SUFFIX, parse_relpath
from nvr.storage.recovery import RECOVERY_REASON

REPO = Path(__file__).resolve().parents[1]
PASSWORD_ENV = "NVR_T_CRASH_PW"
KILL_AFTER_S = (3.1, 6.7, 4.3, 8.9, 5.2, 3.6, 7.4, 4.9, 9.6, 5.8)
"""Seconds of recording before each kill: spread over the first (5-10 s, staggered) and second segment."""
KEYFRAME_US = 1_000_000
"""The simulator's keyframe interval: what a kill may lose (the open fragment)."""
SLACK_US = 500_000
"""Scheduling and network latency on a loaded test machine."""

pytestmark = [pytest.mark.slow]


def recording_enabled() -> bool:
    try:
        import nvr.recorder  # noqa: F401
        from nvr.cli import build_parser
    except ImportError:
        return False
    return "check-storage" in build_parser().format_help()


needs_recorder = pytest.mark.skipif(
    not recording_enabled(),
    reason="waits for the lead: lock_storage + recover in nvr/app.py, check-storage registered in nvr/cli.py")


class NvrRun:
    """``nvr run`` as a child process whose output is collected without blocking the event loop."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.proc: asyncio.subprocess.Process | None = None
        self.text = ""
        self._reader: asyncio.Task | None = None

    async def start(self, timeout: float = 30.0) -> None:
        env = {**os.environ, "NVR_ADMIN_PASSWORD": "crash-test-admin", "PYTHONUNBUFFERED": "1"}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "nvr", "run", "-c", str(self.config), cwd=REPO, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        self._reader = asyncio.create_task(self._read())
        await self.wait_for("nvr is running at", timeout)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.text += line.decode(errors="replace")

    async def wait_for(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            if self.proc is not None and self.proc.returncode is not None:
                raise AssertionError(f"nvr run exited ({self.proc.returncode}):\n{self.text}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen within {timeout} s:\n{self.text}")
            await asyncio.sleep(0.05)

    def kill(self) -> int:
        """SIGKILL now; return the wall time of the kill in UTC µs."""
        assert self.proc is not None
        killed_at = time.time_ns() // 1000
        self.proc.send_signal(signal.SIGKILL)
        return killed_at

    async def wait(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await self._reader
        return code

    async def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await self.wait()

    async def ensure_dead(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def check_storage(config: Path, *extra: str) -> tuple[int, str]:
    """``nvr check-storage`` as a child process (the event loop keeps serving the cameras)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nvr", "check-storage", "-c", str(config), *extra, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(errors="replace")


def write_config(tmp_path: Path, fleet: SimFleet, root: Path, extra: str = "") -> Path:
    cams = "".join(
        f'\n[[cameras]]\nname = "{cam.name}"\nrecord = {{ segment_seconds = 10 }}\n'
        f'stream = {{ main = "{cam.rtsp_main}", username = "{fleet.username}", '
        f'password = {{ env = "{PASSWORD_ENV}" }} }}\n'
        for cam in fleet.cameras)
    config = tmp_path / "nvr.toml"
    config.write_text(f'[server]\nport = 0\n[log]\nlevel = "info"\n[storage]\nroot = "{root}"\n'
                      f'[catalog]\nurl = "{tmp_path / "catalog.db"}"\n{extra}{cams}', encoding="utf-8")
    return config


@contextlib.asynccontextmanager
async def fleet_of(count: int, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimFleet]:
    async with SimFleet(count, discovery_port=None, password="crash-sim-pw") as fleet:
        monkeypatch.setenv(PASSWORD_ENV, fleet.password)
        yield fleet


async def wait_recording(root: Path, cameras: list[str], since_us: int, timeout: float = 20.0) -> None:
    """Until every camera has a ``.part`` that started after ``since_us`` (its recorder is writing)."""
    def writing() -> set[str]:
        found = set()
        for part in root.rglob(f"*{PARTIAL_SUFFIX}"):
            parsed = parse_relpath(part.relative_to(root).as_posix()[: -len(PARTIAL_SUFFIX)])
            if parsed and parsed[2] >= since_us:
                found.add(parsed[0])
        return found

    deadline = time.monotonic() + timeout
    while (got := await asyncio.to_thread(writing)) != set(cameras):
        if time.monotonic() > deadline:
            raise AssertionError(f"cameras writing: {sorted(got)}, expected {cameras}")
        await asyncio.sleep(0.1)


def recovered_after_crash(log: str) -> bool:
    """Start-up recovery ran as after a crash ("empty": nothing was indexed yet, every folder was compared)."""
    return "storage recovery of" in log and ("crash start-up" in log or "empty start-up" in log)


def segment_plays(path: Path, frames: int) -> None:
    """Demux every packet and decode the first and last GOP's first frame with PyAV."""
    with av.open(str(path)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    assert len(packets) == frames, path
    assert packets[0].is_keyframe, path
    with av.open(str(path)) as container:
        first = next(container.decode(video=0))
        assert first.width > 0


async def all_segments(catalog: Catalog) -> list:
    out, after = [], 0
    while page := await catalog.iter_segments(after, 500):
        out += page
        after = page[-1].id
    return out


@needs_recorder
@pytest.mark.serial
@pytest.mark.timeout(300)  # ~100 s alone; eleven starts of a real server on a loaded machine take longer
async def test_kill_9_ten_times_loses_at_most_the_open_fragment(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    started = time.monotonic()
    root = tmp_path / "storage"
    kills: list[int] = []
    async with fleet_of(3, monkeypatch) as fleet:
        config = write_config(tmp_path, fleet, root)
        names = [c.name for c in fleet.cameras]
        nvr = NvrRun(config)
        try:
            for i, after in enumerate(KILL_AFTER_S):
                start_us = time.time_ns() // 1000
                await nvr.start()
                if i:  # killed: no clean-shutdown marker, so the recent folders are recovered before recording
                    assert recovered_after_crash(nvr.text), nvr.text
                await wait_recording(root, names, start_us)
                t0 = time.monotonic()
                code, out = await check_storage(config)  # read-only while nvr records
                assert code == 0, out
                await asyncio.sleep(max(0.0, after - (time.monotonic() - t0)))
                kills.append(nvr.kill())
                assert await nvr.wait() == -signal.SIGKILL
                nvr = NvrRun(config)
            await nvr.start()  # the last recovery
            assert recovered_after_crash(nvr.text), nvr.text
            code, out = await check_storage(config)
            assert code == 0, out
            assert await nvr.stop() == 0
            assert "clean shutdown recorded" in nvr.text, nvr.text
            nvr = NvrRun(config)
            await nvr.start()  # after a clean stop only each camera's latest folder is checked
            assert "clean start-up" in nvr.text, nvr.text
            code, out = await check_storage(config)
            assert code == 0, out
            assert await nvr.stop() == 0
        finally:
            await nvr.ensure_dead()
    code, out = await check_storage(config, "--deep")
    assert code == 0, out

    async with await open_catalog(str(tmp_path / "catalog.db")) as catalog:
        segments = await all_segments(catalog)
        assert all(s.state == "ok" for s in segments)
        for seg in segments:
            await asyncio.to_thread(segment_plays, root / seg.path, seg.frames)
        losses: dict[str, list[float]] = {}
        for name in names:
            camera = await catalog.get_camera(name)
            assert camera is not None
            mine = [s for s in segments if s.camera_id == camera.id]
            for killed_at in kills:
                before = [s for s in mine if s.start_time < killed_at]
                assert before, f"{name}: no footage before the kill at {killed_at}"
                last = max(before, key=lambda s: s.end_time)
                run = await catalog.get_run(last.run_id)
                assert run is not None and run.reason_ended == RECOVERY_REASON and run.ended_at == last.end_time
                loss = killed_at - last.end_time
                losses.setdefault(name, []).append(loss / 1e6)
                assert -SLACK_US <= loss <= KEYFRAME_US + SLACK_US, (name, loss, last.path)
        total_media = sum(s.media_duration for s in segments) / MEDIA_TIMEBASE
    print(f"\n{len(kills)} kills, {len(segments)} segments ({total_media:.0f} s of media) in "
          f"{time.monotonic() - started:.0f} s; loss per kill (s): "
          + "; ".join(f"{n}: max {max(v):.2f} mean {sum(v) / len(v):.2f}" for n, v in losses.items()))


# -- (b) a nearly full filesystem -----------------------------------------------


def retention_wired() -> bool:
    try:
        import nvr.retention_service  # noqa: F401
    except ImportError:
        return False
    app = (REPO / "nvr" / "app.py").read_text(encoding="utf-8")
    return "RetentionService" in app


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 60 MB tmpfs mounted at a fresh folder; unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=60m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@needs_recorder
@pytest.mark.skipif(not retention_wired(), reason="waits for the retention service to be wired (lead)")
async def test_full_disk_emergency_sweep_keeps_held_footage(tmp_path: Path, tmpfs: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmpfs / "storage"
    floor = 20 * 1_000_000
    retention = ("[retention]\ninterval_minutes = 60\nmin_free_percent = 0\n"
                 f"min_free_gb = {floor / 1e9}\ncheck_seconds = 1\n")
    async with fleet_of(1, monkeypatch) as fleet:
        config = write_config(tmp_path, fleet, root, retention)
        nvr = NvrRun(config)
        try:
            await nvr.start()
            # Record until a few segments are indexed, then hold the first one.
            async with await open_catalog(str(tmp_path / "catalog.db")) as catalog:
                deadline = time.monotonic() + 60
                while len(segs := await all_segments(catalog)) < 3:
                    assert time.monotonic() < deadline, nvr.text
                    await asyncio.sleep(0.5)
                held = segs[0]
                await catalog.add_hold(fleet.cameras[0].name, held.start_time, held.end_time, "evidence")
                # Fill the disk to just under the floor: the sweep must delete unheld footage to get back.
                deficit = min(3_000_000, sum(s.size_bytes for s in segs[1:]) * 6 // 10)
                usage = shutil.disk_usage(tmpfs)
                filler = tmpfs / "filler.bin"
                await asyncio.to_thread(filler.write_bytes, b"\0" * max(0, usage.free - floor + deficit))
                before_fill = {s.id for s in await all_segments(catalog)}
                deadline = time.monotonic() + 40
                while shutil.disk_usage(tmpfs).free < floor:  # the emergency sweep frees space
                    assert time.monotonic() < deadline, (shutil.disk_usage(tmpfs), nvr.text[-3000:])
                    await asyncio.sleep(0.5)
                after_sweep = await all_segments(catalog)
                assert before_fill - {s.id for s in after_sweep}, "nothing was deleted"
                # Recording goes on after the sweep: a new segment is indexed.
                last_id = max(s.id for s in after_sweep)
                deadline = time.monotonic() + 30
                while not [s for s in await all_segments(catalog) if s.id > last_id]:
                    assert time.monotonic() < deadline, nvr.text[-3000:]
                    await asyncio.sleep(0.5)
                kept = await catalog.get_segment(held.id)
                assert kept is not None and kept.state == "ok" and (root / held.path).exists()
            assert "No space left" not in nvr.text
            assert await nvr.stop() == 0
        finally:
            await nvr.ensure_dead()
    code, out = await check_storage(config)
    assert code == 0, out
