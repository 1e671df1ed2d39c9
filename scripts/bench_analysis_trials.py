"""The trials of ``scripts/bench_analysis.py``: start the child processes, measure their CPU over a window.

CPU comes from ``/proc/<pid>/stat`` (utime + stime, every thread), as in ``scripts/bench_recording.py``,
whose helpers are reused; the machine's CPU from ``/proc/stat``.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_analysis_children import ANALYSIS_FPS, FPS
from bench_recording import cpu_seconds, machine_cpu, memory_kb

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve().parent / "bench_analysis.py"


# =========================================================================== processes


@dataclass
class Child:
    """A child process of this benchmark, its stderr in a temporary file."""

    what: str
    proc: subprocess.Popen[bytes]
    errfile: Any
    ready: str = ""
    final_stderr: str = ""

    def stderr(self, tail: int = 1500) -> str:
        if self.errfile.closed:
            return self.final_stderr[-tail:]
        self.errfile.seek(0)
        return self.errfile.read().decode(errors="replace")[-tail:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    def stop(self, timeout: float) -> bool:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL; True when it exited by itself."""
        self.signal(signal.SIGTERM)
        clean = True
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            clean = False
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.final_stderr = self.stderr(1 << 20)
        self.errfile.close()
        return clean


def start_child(what: str, args: list[str], workdir: Path, timeout: float) -> Child:
    """Start ``bench_analysis.py <args>`` and wait for its ``READY`` line (the rest of the line is kept)."""
    errfile = tempfile.TemporaryFile(dir=workdir)
    env = dict(os.environ)
    env.setdefault("NVR_SIM_CACHE", str(REPO / ".cache" / "sim"))
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=errfile,
                            stdin=subprocess.DEVNULL, cwd=REPO, env=env, start_new_session=True)
    child = Child(what, proc, errfile)
    assert proc.stdout is not None
    deadline, buf = time.monotonic() + timeout, b""
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0 or proc.poll() is not None:
                    why = "timed out" if left <= 0 else f"exited with {proc.returncode}"
                    raise RuntimeError(f"{what} {why} before READY; stderr:\n{child.stderr()}")
                if sel.select(min(left, 0.5)):
                    buf += os.read(proc.stdout.fileno(), 1 << 16)
        line = buf.split(b"\n", 1)[0].decode()
        if not line.startswith("READY"):
            raise RuntimeError(f"{what}: unexpected output {line[:200]!r}")
        child.ready = line[5:].strip()
    except BaseException:
        child.stop(5.0)
        raise
    return child


@dataclass
class Source:
    child: Child
    n: int
    port: int
    main_kbps: int
    sub_kbps: int

    def url(self, i: int, stream: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam{i}/{stream}"

    @property
    def pid(self) -> int:
        return self.child.proc.pid


def start_source(n: int, scene: str, workdir: Path) -> Source:
    child = start_child("simulator source", ["_source", str(n), scene], workdir, 300.0)  # first run renders
    info = json.loads(child.ready)
    return Source(child, n, info["port"], info["main_kbps"], info["sub_kbps"])


@dataclass
class Window:
    """CPU of the measured processes, the source and the machine over one window."""

    seconds: float = 0.0
    cpu_s: float = 0.0
    source_cpu_s: float = 0.0
    machine_pct: float = 0.0
    rss_mb: float = 0.0
    load: float = 0.0

    @property
    def cores(self) -> float:
        return self.cpu_s / self.seconds if self.seconds else 0.0

    @property
    def source_pct(self) -> float:
        return self.source_cpu_s / self.seconds * 100 if self.seconds else 0.0


def measure(child: Child, source: Source, seconds: float) -> Window:
    """SIGUSR1 the child, wait ``seconds`` (watching both processes), SIGUSR2 it; CPU deltas in between."""
    m0, s0, c0, t0 = machine_cpu(), cpu_seconds([source.pid]), cpu_seconds([child.proc.pid]), time.monotonic()
    child.signal(signal.SIGUSR1)
    rss = []
    while time.monotonic() - t0 < seconds:
        time.sleep(min(1.0, max(0.0, seconds - (time.monotonic() - t0))))
        if not source.child.alive():
            raise RuntimeError(f"the source exited during the window: {source.child.stderr()}")
        if not child.alive():
            raise RuntimeError(f"the {child.what} exited during the window: {child.stderr()}")
        rss.append(memory_kb([child.proc.pid])[0])
    child.signal(signal.SIGUSR2)
    m1, s1, c1, t1 = machine_cpu(), cpu_seconds([source.pid]), cpu_seconds([child.proc.pid]), time.monotonic()
    busy, total = m1[0] - m0[0], m1[1] - m0[1]
    return Window(t1 - t0, c1 - c0, s1 - s0, busy / total * 100 if total else 0.0,
                  sum(rss) / len(rss) / 1024 if rss else 0.0, os.getloadavg()[0])


def _finish(child: Child, out: Path, timeout: float) -> dict[str, Any]:
    clean = child.stop(timeout)
    if not out.exists():
        raise RuntimeError(f"the {child.what} wrote no results (clean stop: {clean}); stderr:\n{child.stderr()}")
    return json.loads(out.read_text())


# =========================================================================== samplers


@dataclass
class SamplerTrial:
    mode: str
    n: int
    window: Window = field(default_factory=Window)
    decoded: int = 0
    sampled: int = 0
    packets: int = 0
    reconnects: int = 0
    keyframes_only: int = 0
    error: str | None = None

    @property
    def cpu_s_per_cam_min(self) -> float:
        return self.window.cpu_s / (self.window.seconds / 60 * self.n) if self.window.seconds else 0.0

    @property
    def cams_per_core(self) -> float:
        return 60 / self.cpu_s_per_cam_min if self.cpu_s_per_cam_min else 0.0

    @property
    def expected(self) -> float:
        return self.window.seconds * ANALYSIS_FPS * self.n


def run_samplers(mode: str, source: Source, warmup: float, seconds: float, workdir: Path, log: Any) -> SamplerTrial:
    trial = SamplerTrial(mode, source.n)
    log(f"-- samplers, {mode}: {source.n} sub stream(s), {seconds:.0f} s (+{warmup:g} s warm-up)")
    urls, out = workdir / f"urls-{mode}.json", workdir / f"samplers-{mode}.json"
    urls.write_text(json.dumps([source.url(i, "sub") for i in range(1, source.n + 1)]))
    try:
        child = start_child(f"{mode} samplers", ["_samplers", str(urls), mode, str(out)], workdir, 60.0)
        try:
            time.sleep(warmup)
            trial.window = measure(child, source, seconds)
        except BaseException:
            child.stop(10.0)
            raise
        marks = _finish(child, out, 30.0)
        a, b = marks["start"], marks["end"]
        trial.decoded, trial.sampled = b["decoded"] - a["decoded"], b["sampled"] - a["sampled"]
        trial.packets, trial.reconnects = b["packets"] - a["packets"], b["reconnects"] - a["reconnects"]
        trial.keyframes_only = b["keyframes_only"]
    except Exception as exc:  # noqa: BLE001 - reported in the table
        trial.error = f"{type(exc).__name__}: {exc}"
        log(f"   {trial.error}")
        return trial
    w = trial.window
    log(f"   {trial.cpu_s_per_cam_min:.3f} CPU-s/camera/min, {trial.decoded / w.seconds:.1f} decoded frames/s, "
        f"{trial.sampled}/{trial.expected:.0f} sampled, ~{trial.cams_per_core:.0f} cameras/core, source "
        f"{w.source_pct:.0f} %, machine {w.machine_pct:.0f} %, load {w.load:.2f}")
    return trial


# =========================================================================== detector


def run_detector(scene: str, seconds: float, workdir: Path, log: Any) -> dict[str, Any]:
    log(f"-- detector: the bundled model on 640x360 frames, {seconds:g} s per caller count")
    out = workdir / "detector.json"
    errfile = tempfile.TemporaryFile(dir=workdir)
    env = dict(os.environ)
    env.setdefault("NVR_SIM_CACHE", str(REPO / ".cache" / "sim"))
    try:
        proc = subprocess.run([sys.executable, str(SCRIPT), "_detector", scene, str(seconds), str(out)],
                              stdout=subprocess.DEVNULL, stderr=errfile, cwd=REPO, env=env, timeout=300 + 6 * seconds)
        if proc.returncode != 0 or not out.exists():
            errfile.seek(0)
            raise RuntimeError(f"exited with {proc.returncode}: {errfile.read().decode(errors='replace')[-1500:]}")
        result = json.loads(out.read_text())
    except Exception as exc:  # noqa: BLE001 - reported
        log(f"   {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        errfile.close()
    for r in result["runs"]:
        log(f"   {r['callers']} caller(s): median {r['median_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
            f"{r['fps']:.1f} frames/s, {r['cores']:.2f} cores, {r['cpu_ms_per_frame']:.1f} CPU-ms/frame")
    return result


# =========================================================================== server


def server_config(workdir: Path, source: Source, detect: bool, segment_s: int, extra: str = "") -> Path:
    lines = ["[server]", 'host = "127.0.0.1"', "port = 0", "", "[log]", 'level = "warning"', "",
             "[storage]", f'root = "{workdir / "storage"}"', "", "[retention]", "min_free_percent = 0",
             "min_free_gb = 0", ""]
    for i in range(1, source.n + 1):
        lines += ["[[cameras]]", f'name = "cam{i}"',
                  f'stream = {{ main = "{source.url(i, "main")}", sub = "{source.url(i, "sub")}" }}',
                  f"record = {{ enabled = true, segment_seconds = {segment_s} }}", "[cameras.detect]",
                  f"enabled = {'true' if detect else 'false'}", f"fps = {ANALYSIS_FPS}", ""]
    path = workdir / "nvr.toml"
    path.write_text("\n".join(lines) + ("\n" + extra if extra else ""))
    return path


@dataclass
class ServerTrial:
    n: int
    detect: bool
    label: str | None = None
    window: Window = field(default_factory=Window)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def _sum(self, key: str, which: str = "end_cams") -> int:
        return sum(int(c.get(key) or 0) for c in self.result.get(which, {}).values())

    def delta(self, key: str) -> int:
        return self._sum(key, "end_cams") - self._sum(key, "start_cams")

    @property
    def ok(self) -> bool:
        return self.error is None and "window_s" in self.result

    @property
    def cpu_s_per_cam_min(self) -> float:
        return self.window.cpu_s / (self.window.seconds / 60 * self.n) if self.window.seconds else 0.0

    @property
    def expected_frames(self) -> float:
        return self.result.get("window_s", 0.0) * ANALYSIS_FPS * self.n

    @property
    def frames_ratio(self) -> float:
        return self.delta("frames") / self.expected_frames if self.expected_frames else 0.0

    @property
    def dropped_ratio(self) -> float:
        frames = self.delta("frames")
        return self.delta("dropped") / frames if frames else 0.0

    def recording(self, key: str) -> float:
        return sum(c[key] for c in self.result.get("recording", {}).values())

    @property
    def lost_frames(self) -> int:
        return round(self.recording("lost_in_files") + self.recording("gap_s") * FPS)

    @property
    def recording_clean(self) -> bool:
        rec = self.result.get("recording", {})
        return (self.ok and len(rec) == self.n and self.recording("gaps") == 0 and self.lost_frames == 0
                and self.recording("unreadable") == 0)

    @property
    def recording_cores(self) -> float:
        """The ingest loop (main and sub streams) and file I/O threads, in cores."""
        threads = self.result.get("threads", {})
        w = self.result.get("window_s", 0.0)
        return sum(v for k, v in threads.items() if k.startswith("nvr-ingest") or k.startswith("nvr-files")) / w \
            if w else 0.0

    @property
    def source_saturated(self) -> bool:
        return self.window.source_pct >= 90.0  # the simulator is one Python thread

    @property
    def analysis_clean(self) -> bool:
        return not self.detect or (self.ok and self.dropped_ratio <= 0.05 and self.frames_ratio >= 0.9)


def run_server(source: Source, detect: bool, warmup: float, seconds: float, segment_s: int, workdir: Path,
               log: Any, keep: bool = False, extra: str = "", label: str | None = None) -> ServerTrial:
    trial = ServerTrial(source.n, detect, label)
    what = label or ("recording + analysis" if detect else "recording only")
    log(f"-- nvr server, {what}: {source.n} camera(s), {seconds:.0f} s (+{warmup:g} s warm-up), "
        f"{segment_s} s segments")
    tdir = Path(tempfile.mkdtemp(prefix=f"server-{source.n}-{'detect' if detect else 'rec'}-", dir=workdir))
    out = tdir / "result.json"
    config = server_config(tdir, source, detect, segment_s, extra)
    try:
        child = start_child("nvr server", ["_server", str(config), str(out)], tdir, 180.0)
        try:
            time.sleep(warmup)
            trial.window = measure(child, source, seconds)
        except BaseException:
            child.stop(60.0)
            raise
        trial.result = _finish(child, out, 180.0 + source.n)
        logged = child.stderr(200_000).splitlines()
        errors = [i for i, line in enumerate(logged) if " ERROR " in line]
        if errors:
            first = " / ".join(line.strip() for line in logged[errors[0]:errors[0] + 12] if line.strip())
            trial.notes.append(f"{len(errors)} error(s) in the server's log, the first: {first[-900:]}")
    except Exception as exc:  # noqa: BLE001 - reported in the table
        trial.error = f"{type(exc).__name__}: {exc}"
        log(f"   {trial.error[:2000]}")
        return trial
    finally:
        if not keep:  # footage of a big trial is gigabytes
            shutil.rmtree(tdir, ignore_errors=True)
    w = trial.window
    log(f"   server {w.cores:.2f} cores ({trial.cpu_s_per_cam_min:.3f} CPU-s/camera/min), analysed "
        f"{trial.delta('frames')}/{trial.expected_frames:.0f} frames, dropped {trial.dropped_ratio:.1%}, "
        f"detector runs {trial.delta('detector_runs')}, recording gaps {trial.recording('gaps'):.0f}, lost "
        f"{trial.lost_frames}, source {w.source_pct:.0f} %, machine {w.machine_pct:.0f} %, load {w.load:.2f}")
    return trial
