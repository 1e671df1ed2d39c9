"""Recording benchmark: nvr's recorder against ffmpeg stream copy, N cameras on this machine.

Run with ``scripts/bench_recording`` (uses the project's virtual environment).

Every camera is 1280x720, 15 fps, about 2 Mbit/s, a keyframe every 2 s,
served over RTSP on 127.0.0.1 by one of two sources, each in its own process
so its CPU is measured apart:

* ``sim``: nvr's camera simulator (``nvr.sim.rtsp.RtspServer``) streaming a
  clip rendered to those parameters (x264 ultrafast, CRF 16: ~2 Mbit/s);
* ``gst``: ``scripts/gst_rtsp_server.py`` (GStreamer x264, 2000 kbit/s CBR).
  By default all cameras share one live encoder (``--gst-encoders shared``),
  since one 720p x264 encoder costs ~20 % of a core and the point is to load
  the recorder, not the source.

and recorded over RTSP/TCP for ``--duration`` seconds by:

* ``nvr``: one process running ``nvr.recorder.Recorder`` for every camera;
* ``ffmpeg``: one ``ffmpeg -rtsp_transport tcp -i URL -c copy -f segment
  -segment_time 60 -reset_timestamps 1 out%05d.mp4`` process per camera (plus
  ``-segment_list`` so segment boundaries can be checked).

Measured per source x recorder x N, over a window that starts 5 s after the
recorders start (connect and first keyframe) and lasts ``--duration``:

* CPU seconds per minute of footage per stream (``/proc/<pid>/stat`` utime +
  stime, children included, deltas over the window);
* resident memory per stream (VmRSS: nvr process / N; ffmpeg: mean per
  process; PSS is printed too, since ffmpeg processes share libraries);
* frames recorded vs expected (recording time x fps), frames lost (holes in
  the packet timestamps, counted with PyAV without decoding) and gaps
  (missing time between consecutive segments or runs, or a recording that
  stops early);
* the source's own CPU (% of one core) and the whole machine's CPU use.

``--ramp`` looks for the largest N nvr records without a gap or lost frame:
N = 25, 50, 100, 150, 200, ... (``--ramp-duration`` per step), stopping at the
first failing N; there it records the same N with ffmpeg and checks the
source's CPU, to tell a recorder limit from a source that cannot serve that
many streams on the same machine.

All output goes to a temporary folder that is removed at exit (``--keep``
keeps it). The run is bounded: every step has hard time limits, and
``--max-runtime`` stops a ramp.

If ffmpeg is missing and we are root, it is installed with apt-get.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GST_SCRIPT = REPO / "scripts" / "gst_rtsp_server.py"
GST_PYTHON = os.environ.get("NVR_GST_PYTHON", "/usr/bin/python3")

WIDTH, HEIGHT, FPS, BITRATE_KBPS, GOP_S = 1280, 720, 15, 2000, 2
WARMUP_S = 5.0
"""Recording runs this long before the measurement window opens (connect, first keyframe)."""
START_ALLOWANCE_S = 3.0 + GOP_S
"""Footage a recorder may miss at its start (connect + wait for a keyframe) before it counts as a gap."""
RAMP_STEPS = (25, 50, 100, 150, 200)
RAMP_STEP_AFTER = 100
"""After the listed steps the ramp continues in steps of this size."""
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def sim_clip_spec() -> Any:
    """The simulator clip: 720p (sub/alt variants too, the server loads them), 15 fps, 2 s GOP, ~2 Mbit/s."""
    from nvr.sim.clip import ClipSpec

    return ClipSpec(fps=FPS, duration=10.0, gop_seconds=GOP_S, preset="ultrafast", crf=16)


# =========================================================================== /proc


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields from "state" (3rd) on


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            f = _stat_fields(int(entry))
            if f is not None:
                kids.setdefault(int(f[1]), []).append(int(entry))
    return kids


def process_tree(pid: int, kids: dict[int, list[int]] | None = None) -> list[int]:
    """``pid`` and all its live descendants."""
    kids = _children_map() if kids is None else kids
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes and of their reaped children, all descendants included."""
    kids = _children_map()
    total = 0
    for root in pids:
        for p in process_tree(root, kids):
            f = _stat_fields(p)
            if f is not None:
                total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # utime stime cutime cstime
    return total / CLK_TCK


def memory_kb(pids: list[int]) -> tuple[int, int]:
    """(RSS, PSS) in KiB summed over the processes and their descendants (PSS 0 where unreadable)."""
    kids = _children_map()
    rss = pss = 0
    for root in pids:
        for p in process_tree(root, kids):
            with contextlib.suppress(OSError, ValueError, IndexError):
                rss += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE_KB
            with contextlib.suppress(OSError, ValueError, IndexError):
                for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                        break
    return rss, pss


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    total = sum(parts[:8])
    return total - idle, total


# =========================================================================== child modes


def child_sim_source(argv: list[str]) -> int:
    """``_sim-source N``: serve N simulated cameras; print READY and the URLs; stop on SIGTERM."""
    n = int(argv[0])
    from nvr.sim.rtsp import RtspServer

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with RtspServer(port=0, clip_spec=sim_clip_spec()) as server:
            for i in range(1, n + 1):
                server.add_camera(f"cam{i}")
            clip = server.source("main").clip
            print(f"sim source: {n} camera(s), clip {clip.width}x{clip.height} {clip.fps} fps "
                  f"{clip.bitrate / 1000:.0f} kbit/s", file=sys.stderr, flush=True)
            print("READY " + " ".join(server.url(f"cam{i}", "main") for i in range(1, n + 1)), flush=True)
            await stop.wait()

    asyncio.run(run())
    return 0


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple) and hasattr(obj, "_asdict"):
        return {k: _jsonable(v) for k, v in obj._asdict().items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (int, float, str, bool)) or obj is None:
        return obj
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return {k: _jsonable(v) for k, v in vars(obj).items() if not k.startswith("_")}
    return str(obj)


async def _ingest_lag() -> Any:
    """A loop-lag probe on the recorders' ingest loop (started there)."""
    from bench_loop_lag import LoopLag

    return LoopLag()


def child_nvr_recorder(argv: list[str]) -> int:
    """``_nvr-recorder URLS_JSON ROOT SEGMENT_S EVENTS_JSON MAX_S``: every camera in one process."""
    urls_file, root, segment_s, events_file, max_s = argv[0], Path(argv[1]), int(argv[2]), argv[3], float(argv[4])
    urls = json.loads(Path(urls_file).read_text())
    from nvr.config import RecordingConfig
    from nvr.ingest_thread import ingest_loop, submit
    from nvr.recorder import Recorder

    defaults = RecordingConfig()
    events: dict[str, list[Any]] = {"segments": [], "runs_started": [], "runs_ended": [], "states": []}

    class Listener:
        """Collects the recorder's callbacks (no catalog: the indexer's work is not part of this benchmark)."""

        def state_changed(self, camera: str, state: str, detail: str | None) -> None:
            events["states"].append([time.time(), camera, state, detail])

        def segment_closed(self, segment: Any) -> None:
            events["segments"].append(_jsonable(segment))

        def run_started(self, camera: str, run_key: int, started_at_us: int) -> None:
            events["runs_started"].append([camera, run_key, started_at_us])

        def run_ended(self, camera: str, run_key: int, ended_at_us: int, reason: str) -> None:
            events["runs_ended"].append([camera, run_key, ended_at_us, reason])

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        listener = Listener()
        recorders = [
            Recorder(camera=f"cam{i}", url=url, username=None, password=None, transport="tcp",
                     storage_root=root, segment_seconds=segment_s, stall_timeout_s=defaults.stall_timeout_s,
                     reconnect_max_s=defaults.reconnect_max_s, listener=listener, loop=loop)
            for i, url in enumerate(urls, start=1)
        ]
        for rec in recorders:
            rec.start()
        lag = submit(_ingest_lag()).result(5)
        print("STARTED", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max_s)
        t0 = time.monotonic()
        results = await asyncio.gather(*(rec.stop() for rec in recorders), return_exceptions=True)
        errors = [repr(r) for r in results if isinstance(r, BaseException)]
        events["stop_s"] = [time.monotonic() - t0]
        events["stop_errors"] = errors
        stats = []
        for rec in recorders:
            with contextlib.suppress(Exception):
                stats.append(_jsonable(rec.stats))
        events["stats"] = stats
        lags = lag.lags
        ingest_loop().call_soon_threadsafe(lag.cancel)
        events["ingest_lag"] = {"max_s": max(lags, default=0.0), "over_half_s": [x for x in lags if x > 0.5]}
        Path(events_file).write_text(json.dumps(events, default=str))

    asyncio.run(run())
    return 0


# =========================================================================== sources


@dataclass
class Source:
    kind: str
    proc: subprocess.Popen[bytes]
    urls: list[str]
    errfile: Any

    def stderr(self) -> str:
        self.errfile.seek(0)
        return self.errfile.read().decode(errors="replace")

    def stop(self) -> None:
        _terminate([self.proc], signal.SIGTERM, 15)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.errfile.close()


def _read_ready(proc: subprocess.Popen[bytes], timeout: float, what: str, errfile: Any) -> list[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                errfile.seek(0)
                why = "timed out" if left <= 0 else f"exited with {proc.returncode}"
                raise RuntimeError(f"{what} {why} before READY; stderr:\n{errfile.read().decode(errors='replace')}")
            if sel.select(min(left, 0.5)):
                chunk = os.read(proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    continue
                buf += chunk
    words = buf.decode().split()
    if not words or words[0] not in ("READY", "STARTED"):
        raise RuntimeError(f"{what}: unexpected output {buf[:200]!r}")
    return words[1:]


def start_source(kind: str, n: int, workdir: Path, gst_encoders: str) -> Source:
    errfile = tempfile.TemporaryFile(dir=workdir)
    if kind == "sim":
        cmd = [sys.executable, str(Path(__file__).resolve()), "_sim-source", str(n)]
        timeout = 180.0  # the first run renders the clip (a few seconds)
    else:
        cmd = [GST_PYTHON, str(GST_SCRIPT), "--port", "0", "--count", str(n), "--width", str(WIDTH),
               "--height", str(HEIGHT), "--fps", str(FPS), "--bitrate", str(BITRATE_KBPS), "--gop", str(GOP_S)]
        if gst_encoders == "shared":
            cmd.append("--one-encoder")
        timeout = 60.0
    env = dict(os.environ)
    env.setdefault("NVR_SIM_CACHE", str(REPO / ".cache" / "sim"))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errfile, stdin=subprocess.DEVNULL, cwd=REPO,
                            env=env, start_new_session=True)
    try:
        urls = _read_ready(proc, timeout, f"{kind} source", errfile)
    except BaseException:
        _terminate([proc], signal.SIGTERM, 5)
        errfile.close()
        raise
    if len(urls) != n:
        _terminate([proc], signal.SIGTERM, 5)
        raise RuntimeError(f"{kind} source reported {len(urls)} URLs, expected {n}")
    return Source(kind, proc, urls, errfile)


def _terminate(procs: list[subprocess.Popen[bytes]], sig: int, timeout: float) -> list[bool]:
    """Signal every live process, wait up to ``timeout`` s in all, SIGKILL the rest; True = exited by itself."""
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(sig)
    deadline = time.monotonic() + timeout
    clean = []
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
            clean.append(True)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            p.wait()
            clean.append(False)
    return clean


# =========================================================================== recorders


@dataclass
class RecorderRun:
    kind: str
    procs: list[subprocess.Popen[bytes]]
    outdir: Path
    errfiles: list[Any] = field(default_factory=list)
    events_file: Path | None = None
    started_at: float = 0.0  # wall clock
    stopped_at: float = 0.0
    clean_stop: bool = True
    early_exits: int = 0


def start_ffmpeg(urls: list[str], outdir: Path, segment_s: int) -> RecorderRun:
    procs, errs = [], []
    started = time.time()
    for i, url in enumerate(urls, start=1):
        cam = outdir / f"cam{i}"
        cam.mkdir(parents=True)
        err = open(cam / "ffmpeg.log", "wb")  # noqa: SIM115 - closed in stop_recorder
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-rtsp_transport", "tcp", "-i", url,
               "-c", "copy", "-f", "segment", "-segment_time", str(segment_s), "-reset_timestamps", "1",
               "-segment_list", str(cam / "list.csv"), "-segment_list_type", "csv", str(cam / "out%05d.mp4")]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                                      start_new_session=True))
        errs.append(err)
    return RecorderRun("ffmpeg", procs, outdir, errs, started_at=started)


def start_nvr(urls: list[str], outdir: Path, segment_s: int, max_s: float) -> RecorderRun:
    (outdir / "storage").mkdir(parents=True)  # nvr's storage root exists before recording starts
    urls_file = outdir / "urls.json"
    urls_file.write_text(json.dumps(urls))
    events = outdir / "events.json"
    err = open(outdir / "nvr.log", "w+b")  # noqa: SIM115 - closed in stop_recorder
    cmd = [sys.executable, str(Path(__file__).resolve()), "_nvr-recorder", str(urls_file), str(outdir / "storage"),
           str(segment_s), str(events), str(max_s)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, cwd=REPO,
                            start_new_session=True)
    run = RecorderRun("nvr", [proc], outdir, [err], events_file=events, started_at=time.time())
    try:
        _read_ready(proc, 60.0, "nvr recorder process", err)
    except BaseException:
        stop_recorder(run)
        raise
    run.started_at = time.time()  # the recorders start now (the process first imports nvr and PyAV)
    return run


def stop_recorder(run: RecorderRun) -> None:
    run.early_exits = sum(1 for p in run.procs if p.poll() is not None)
    # ffmpeg finishes its segment and writes the trailer on SIGINT; nvr stops its recorders on SIGTERM.
    sig = signal.SIGINT if run.kind == "ffmpeg" else signal.SIGTERM
    clean = _terminate(run.procs, sig, 60.0 if run.kind == "nvr" else 30.0)
    run.stopped_at = time.time()
    run.clean_stop = all(clean)
    for p in run.procs:
        if p.stdout is not None:
            p.stdout.close()
    for f in run.errfiles:
        f.close()


# =========================================================================== analysis


@dataclass
class CameraFootage:
    frames: int = 0
    lost_frames: int = 0
    media_s: float = 0.0
    gaps: int = 0
    gap_s: float = 0.0
    files: int = 0
    runs: int = 1
    unreadable: int = 0
    overlaps: int = 0
    overlap_s: float = 0.0
    error: str | None = None


def count_frames(path: Path) -> tuple[int, int, float, float | None, float | None]:
    """(frames, frames lost inside the file, media seconds, first pts s, end s) from packet timestamps.

    Packets within half a frame interval of the previous one belong to the same
    frame (ffmpeg's RTSP demuxer emits parameter sets of a keyframe as a packet
    of their own).
    """
    import av

    frames = lost = 0
    first = last = None
    interval = 1.0 / FPS
    with av.open(str(path)) as container:
        if not container.streams.video:
            return 0, 0, 0.0, None, None
        stream = container.streams.video[0]
        tb = float(stream.time_base)
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            t = packet.pts * tb
            if last is not None and t < last + interval / 2:
                continue
            if last is not None and t - last > 1.5 * interval:
                lost += round((t - last) / interval) - 1
            frames += 1
            first = t if first is None else first
            last = t
    if first is None or last is None:
        return 0, 0, 0.0, None, None
    return frames, lost, last - first + interval, first, last + interval


def _boundary(f: CameraFootage, hole_s: float) -> None:
    """Account for the time between one segment's end and the next one's start."""
    if hole_s > 1.5 / FPS:
        f.gaps += 1
        f.gap_s += hole_s
        f.lost_frames += round(hole_s * FPS)
    elif hole_s < -1.5 / FPS:  # the next segment claims time the previous one already covered
        f.overlaps += 1
        f.overlap_s -= hole_s


def _add_file(f: CameraFootage, path: Path) -> bool:
    """Count one segment file's frames into ``f``; False (and counted as unreadable) if PyAV cannot read it."""
    try:
        frames, lost, media, _, _ = count_frames(path)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is counted and reported
        f.unreadable += 1
        f.error = f.error or f"{path.name}: {exc}"
        return False
    f.files += 1
    f.frames += frames
    f.lost_frames += lost
    f.media_s += media
    return True


def analyse_ffmpeg(run: RecorderRun, n: int) -> list[CameraFootage]:
    out = []
    for i in range(1, n + 1):
        cam = run.outdir / f"cam{i}"
        f = CameraFootage()
        listed: list[tuple[str, float, float]] = []
        with contextlib.suppress(FileNotFoundError):
            for line in (cam / "list.csv").read_text().splitlines():
                parts = line.rsplit(",", 2)
                if len(parts) == 3:
                    listed.append((parts[0], float(parts[1]), float(parts[2])))
        prev_end = None
        for name, start, end in listed:
            if not _add_file(f, cam / name):
                continue
            if prev_end is not None:
                _boundary(f, start - prev_end)
            prev_end = end
        # Files ffmpeg wrote but did not list (killed): count their frames, no boundary check.
        listed_names = {name for name, _, _ in listed}
        for path in sorted(cam.glob("out*.mp4")):
            if path.name not in listed_names:
                _add_file(f, path)
        out.append(f)
    return out


def _get(d: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in d and d[name] is not None:
            return d[name]
    return None


def analyse_nvr(run: RecorderRun, n: int) -> tuple[list[CameraFootage], dict[str, Any]]:
    root = run.outdir / "storage"
    events: dict[str, Any] = {}
    if run.events_file is not None and run.events_file.exists():
        events = json.loads(run.events_file.read_text())
    by_cam: dict[str, list[dict[str, Any]]] = {}
    for seg in events.get("segments", []):
        cam = _get(seg, "camera", "camera_name")
        if cam is not None:
            by_cam.setdefault(str(cam), []).append(seg)
    runs_by_cam: dict[str, int] = {}
    for cam, *_ in events.get("runs_started", []):
        runs_by_cam[cam] = runs_by_cam.get(cam, 0) + 1
    out = []
    for i in range(1, n + 1):
        name = f"cam{i}"
        f = CameraFootage(runs=runs_by_cam.get(name, 0))
        segs = by_cam.get(name)
        if segs:
            segs.sort(key=lambda s: (_get(s, "start_time", "start_us", "start") or 0))
            prev_end = None
            for seg in segs:
                rel = _get(seg, "relpath", "path")
                path = Path(rel) if rel is not None and Path(rel).is_absolute() else root / str(rel)
                if not _add_file(f, path):
                    continue
                start, end = _get(seg, "start_time", "start_us", "start"), _get(seg, "end_time", "end_us", "end")
                if start is not None and prev_end is not None:
                    _boundary(f, (int(start) - int(prev_end)) / 1e6)
                if end is not None:
                    prev_end = end
        else:
            # No events (the process died?): count what is on disk, without boundary checks.
            for path in sorted((root / name).rglob("*.mp4")) if (root / name).exists() else []:
                _add_file(f, path)
        out.append(f)
    return out, events


# =========================================================================== one trial


@dataclass
class Trial:
    source: str
    recorder: str
    n: int
    duration_s: float
    ok: bool = True
    error: str | None = None
    cpu_s_per_min: float = 0.0
    rss_mb: float = 0.0
    pss_mb: float = 0.0
    frames: int = 0
    expected: int = 0
    lost: int = 0
    gaps: int = 0
    gap_s: float = 0.0
    short_cameras: int = 0
    source_cpu_pct: float = 0.0
    machine_cpu_pct: float = 0.0
    source_saturated: bool = False
    anomalies: bool = False
    """Timeline trouble that loses nothing: overlapping segments, runs restarted, more samples than frames."""
    source_loss: int = 0
    """nvr: pictures dropped because RTP packets never came (the source skipped them; counted in ``lost``)."""
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Nothing lost but what the source itself did not send (nvr drops such damaged pictures)."""
        return self.ok and self.lost <= self.source_loss and self.gaps == 0


class Sampler(threading.Thread):
    """Samples the recorders' memory every ``interval`` seconds while the window is open."""

    def __init__(self, pids: list[int], interval: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.pids, self.interval = pids, interval
        self.samples: list[tuple[int, int]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(memory_kb(self.pids))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)


def run_trial(source_kind: str, recorder_kind: str, n: int, duration: float, segment_s: int, workdir: Path,
              gst_encoders: str, log: Any, warmup: float = WARMUP_S) -> Trial:
    trial = Trial(source_kind, recorder_kind, n, duration)
    tdir = Path(tempfile.mkdtemp(prefix=f"{source_kind}-{recorder_kind}-{n}-", dir=workdir))
    log(f"-- {source_kind} source, {recorder_kind} recorder, {n} camera(s), {duration:.0f} s "
        f"(+{warmup:g} s warm-up), {segment_s} s segments")
    try:
        source = start_source(source_kind, n, tdir, gst_encoders)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        trial.ok, trial.error = False, f"source did not start: {exc}"
        log(f"   {trial.error}")
        return trial
    rec: RecorderRun | None = None
    try:
        if recorder_kind == "nvr":
            rec = start_nvr(source.urls, tdir / "nvr", segment_s, warmup + duration + 120)
        else:
            rec = start_ffmpeg(source.urls, tdir / "ffmpeg", segment_s)
        rec_pids = [p.pid for p in rec.procs]
        time.sleep(warmup)
        sampler = Sampler(rec_pids)
        m0, s0, r0, t0 = machine_cpu(), cpu_seconds([source.proc.pid]), cpu_seconds(rec_pids), time.monotonic()
        sampler.start()
        deadline = t0 + duration
        while time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            if source.proc.poll() is not None:
                raise RuntimeError(f"the {source_kind} source exited during the run (status "
                                   f"{source.proc.returncode}): {source.stderr().strip()[-600:]}")
            if recorder_kind == "nvr" and rec.procs[0].poll() is not None:
                trial.notes.append(f"nvr recorder process exited early ({rec.procs[0].returncode})")
                break
        m1, s1, r1, t1 = machine_cpu(), cpu_seconds([source.proc.pid]), cpu_seconds(rec_pids), time.monotonic()
        sampler.stop()
        window = t1 - t0
        stop_recorder(rec)
        footage_min = window / 60 * n
        trial.cpu_s_per_min = (r1 - r0) / footage_min if footage_min else 0.0
        if sampler.samples:
            trial.rss_mb = sum(s[0] for s in sampler.samples) / len(sampler.samples) / 1024 / n
            trial.pss_mb = sum(s[1] for s in sampler.samples) / len(sampler.samples) / 1024 / n
        trial.source_cpu_pct = (s1 - s0) / window * 100
        busy, total = m1[0] - m0[0], m1[1] - m0[1]
        trial.machine_cpu_pct = busy / total * 100 if total else 0.0
        cores = os.cpu_count() or 1
        limit = 100.0 if source_kind == "sim" else 100.0 * cores  # the simulator is one Python thread
        trial.source_saturated = trial.source_cpu_pct >= 0.9 * limit
        if rec.early_exits:
            trial.notes.append(f"{rec.early_exits} recorder process(es) had exited before the stop")
        if not rec.clean_stop:
            trial.notes.append("a recorder process did not stop within the time limit (killed)")
    except Exception as exc:  # noqa: BLE001 - reported in the table
        trial.ok, trial.error = False, f"{type(exc).__name__}: {exc}"
        log(f"   {trial.error}")
        if rec is not None and rec.stopped_at == 0.0:
            stop_recorder(rec)
    finally:
        source_err = source.stderr()
        source.stop()
    if rec is None or not trial.ok:
        return trial

    recorded_s = rec.stopped_at - rec.started_at
    if recorder_kind == "ffmpeg":
        cams = analyse_ffmpeg(rec, n)
    else:
        cams, events = analyse_nvr(rec, n)
        if not events:
            trial.notes.append("nvr recorder wrote no events file")
            with contextlib.suppress(OSError):
                tail = (rec.outdir / "nvr.log").read_text(errors="replace")[-1500:]
                trial.notes.append(f"nvr.log tail: {tail}")
        bad = [st for st in events.get("states", []) if st[2] in ("error", "stalled", "offline", "auth_failed",
                                                                    "not_found")]
        if bad:
            trial.notes.append(f"{len(bad)} recorder state change(s) to a failure state, first: "
                               f"{bad[0][1]} {bad[0][2]} ({bad[0][3]})")
        if events.get("stop_errors"):
            trial.notes.append(f"Recorder.stop() errors: {events['stop_errors'][:3]}")
        reasons: dict[str, int] = {}
        for ended in events.get("runs_ended", []):
            if ended[3] != "shutdown":
                reasons[ended[3]] = reasons.get(ended[3], 0) + 1
        if reasons:
            trial.anomalies = True
            trial.notes.append(f"{sum(reasons.values())} run(s) ended before the stop, by reason: {reasons}")
        lag = events.get("ingest_lag")
        if lag:
            stalls = lag["over_half_s"]
            trial.notes.append(
                f"nvr's ingest loop ran at most {lag['max_s']:.2f} s late"
                + (f"; {len(stalls)} stall(s) over 0.5 s (worst {max(stalls):.2f} s): the process "
                   "was not scheduled or its loop was blocked, and a source that cannot queue skips packets"
                   if stalls else ""))
        stats = events.get("stats", [])
        packets = sum(int(s.get("lost_packets", 0)) for s in stats)
        trial.source_loss = sum(int(s.get("dropped_pictures", 0)) for s in stats)
        if packets:
            trial.notes.append(
                f"the source never sent {packets} RTP packet(s) (sequence gaps on TCP: the server skipped them); "
                f"nvr dropped the {trial.source_loss} picture(s) they damaged (up to the next keyframe) and counts "
                "them in 'lost'. ffmpeg writes such pictures damaged, which a timestamp count does not see")
    trial.frames = sum(c.frames for c in cams)
    trial.expected = round(recorded_s * FPS) * n
    trial.lost = sum(c.lost_frames for c in cams)
    trial.gaps = sum(c.gaps for c in cams)
    trial.gap_s = sum(c.gap_s for c in cams)
    overlaps = sum(c.overlaps for c in cams)
    if overlaps:
        trial.anomalies = True
        trial.notes.append(f"{overlaps} segment(s) start before the previous one ends (timeline overlap, "
                           f"{sum(c.overlap_s for c in cams):.1f} s in all)")
    if trial.frames > trial.expected * 1.01:
        trial.anomalies = True
        trial.notes.append(f"{trial.frames} frames in the files but only {trial.expected} fit the recording time: "
                           "the files hold more samples than real frames (their timeline runs fast)")
    unreadable = sum(c.unreadable for c in cams)
    if unreadable:
        example = next(c.error for c in cams if c.error)
        trial.notes.append(f"{unreadable} unreadable segment file(s), e.g. {example}")
    for c in cams:
        short = (recorded_s - START_ALLOWANCE_S) - (c.media_s + c.gap_s)
        if short > 1.0:  # stopped early, stalled for good, or never started
            trial.short_cameras += 1
            trial.gaps += 1
            trial.gap_s += short
            trial.lost += round(short * FPS)
    if trial.short_cameras:
        trial.notes.append(f"{trial.short_cameras} camera(s) recorded less than the run minus "
                           f"{START_ALLOWANCE_S:.0f} s start allowance (counted as a gap)")
    if trial.source_saturated:
        trial.notes.append(f"source at {trial.source_cpu_pct:.0f} % CPU (its limit: "
                           f"{'one core' if source_kind == 'sim' else 'all cores'}): the source may be the limit")
    if trial.machine_cpu_pct >= 95.0:
        trial.notes.append(f"the machine was {trial.machine_cpu_pct:.0f} % busy (all cores, every process)")
    if "Traceback" in source_err or "ERROR" in source_err:
        trial.notes.append("source stderr: " + source_err.strip()[-800:])
    log(f"   cpu {trial.cpu_s_per_min:.3f} s/min/stream, rss {trial.rss_mb:.1f} MB/stream, frames "
        f"{trial.frames}/{trial.expected}, lost {trial.lost}, gaps {trial.gaps} ({trial.gap_s:.1f} s), source "
        f"{trial.source_cpu_pct:.0f} % cpu, machine {trial.machine_cpu_pct:.0f} %")
    return trial


# =========================================================================== report


def print_table(trials: list[Trial]) -> None:
    head = ("source", "recorder", "N", "CPU s/min/stream", "RSS MB/stream", "PSS MB/stream", "frames rec/exp",
            "lost", "gaps (s)", "source CPU %", "machine CPU %")
    rows = [head]
    for t in trials:
        if not t.ok:
            rows.append((t.source, t.recorder, str(t.n), "FAILED", "", "", "", "", "", "", ""))
            continue
        rows.append((t.source, t.recorder, str(t.n), f"{t.cpu_s_per_min:.3f}", f"{t.rss_mb:.1f}", f"{t.pss_mb:.1f}",
                     f"{t.frames}/{t.expected} ({100 * t.frames / max(1, t.expected):.1f}%)", str(t.lost),
                     f"{t.gaps} ({t.gap_s:.1f})", f"{t.source_cpu_pct:.0f}" + ("!" if t.source_saturated else ""),
                     f"{t.machine_cpu_pct:.0f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    sep = "  ".join("-" * w for w in widths)
    print(sep)
    for i, r in enumerate(rows):
        print("  ".join(c.rjust(w) if j >= 2 else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths, strict=True))))
        if i == 0:
            print(sep)
    print(sep)
    print("frames rec/exp: video frames in the files / (recording time x fps x N); the shortfall is mostly the "
          f"start (connect + first keyframe, up to ~{START_ALLOWANCE_S:.0f} s). lost: holes in the timestamps plus "
          "missing time between segments/runs (and cameras that recorded too little). '!': source saturated.")
    for t in trials:
        for note in ([t.error] if t.error else []) + t.notes:
            print(f"* {t.source}/{t.recorder}/N={t.n}: {note}")


def _quality(t: Trial) -> str:
    if not t.clean:
        return "LOST footage"
    if t.source_loss:
        return "lost only pictures the source's missing packets damaged (see notes)"
    return "lost nothing, but with timeline anomalies (see notes)" if t.anomalies else "recorded cleanly"


def verdicts(trials: list[Trial]) -> list[str]:
    lines = []
    pairs: dict[tuple[str, int], dict[str, Trial]] = {}
    for t in trials:
        if t.ok:
            pairs.setdefault((t.source, t.n), {})[t.recorder] = t
    for (source, n), by in sorted(pairs.items()):
        if "nvr" not in by or "ffmpeg" not in by:
            continue
        nv, ff = by["nvr"], by["ffmpeg"]
        cpu_ratio = nv.cpu_s_per_min / ff.cpu_s_per_min if ff.cpu_s_per_min else float("inf")
        mem_ratio = nv.rss_mb / ff.rss_mb if ff.rss_mb else float("inf")
        cpu_ok, mem_ok = cpu_ratio <= 0.5, mem_ratio <= 0.25
        lines.append(
            f"{source} source, N={n}: nvr CPU = {cpu_ratio:.2f} x ffmpeg (target <= 0.50: "
            f"{'PASS' if cpu_ok else 'MISS'}), nvr RSS = {mem_ratio:.2f} x ffmpeg (target <= 0.25: "
            f"{'PASS' if mem_ok else 'MISS'}); nvr {_quality(nv)}, ffmpeg {_quality(ff)}")
    return lines


# =========================================================================== main


def ensure_ffmpeg(log: Any) -> None:
    if shutil.which("ffmpeg"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit("bench_recording: ffmpeg is not installed (it is the baseline); install it "
                         "(apt-get install ffmpeg) or run with --recorder nvr")
    log("ffmpeg is missing: installing it with apt-get (the benchmark's baseline) ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "ffmpeg"], check=True, env=env,
                   timeout=900, stdout=subprocess.DEVNULL)
    if not shutil.which("ffmpeg"):
        raise SystemExit("bench_recording: apt-get did not provide ffmpeg")


def check_gst() -> str | None:
    try:
        out = subprocess.run([GST_PYTHON, str(GST_SCRIPT), "--help"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    probe = subprocess.run([GST_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                            "from gi.repository import GstRtspServer"], capture_output=True, timeout=30)
    if out.returncode != 0 or probe.returncode != 0:
        return (probe.stderr or out.stderr).decode(errors="replace").strip().splitlines()[-1:] or "unknown error"
    return None


def ramp_steps(max_n: int) -> list[int]:
    steps = [n for n in RAMP_STEPS if n <= max_n]
    n = RAMP_STEPS[-1] + RAMP_STEP_AFTER
    while n <= max_n:
        steps.append(n)
        n += RAMP_STEP_AFTER
    return steps


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_sim-source":
        return child_sim_source(argv[1:])
    if argv and argv[0] == "_nvr-recorder":
        return child_nvr_recorder(argv[1:])

    ap = argparse.ArgumentParser(description="nvr recorder vs ffmpeg stream copy: CPU, memory, loss, gaps.",
                                 epilog="See docs/benchmarks.md.")
    ap.add_argument("--cameras", type=int, default=10, help="cameras per trial (default 10)")
    ap.add_argument("--duration", type=float, default=180.0, help="measured seconds per trial (default 180)")
    ap.add_argument("--source", choices=("sim", "gst", "both"), default="both")
    ap.add_argument("--recorder", choices=("nvr", "ffmpeg", "both"), default="both")
    ap.add_argument("--segment-seconds", type=int, default=None,
                    help="segment length (default 60; 30 with --ramp so every step crosses boundaries)")
    ap.add_argument("--ramp", action="store_true", help="find the largest N nvr records without loss")
    ap.add_argument("--ramp-duration", type=float, default=75.0, help="measured seconds per ramp step (default 75)")
    ap.add_argument("--ramp-max", type=int, default=600, help="largest N the ramp tries (default 600)")
    ap.add_argument("--ramp-refine", type=int, default=2,
                    help="after the first failing N, bisect this many times towards the last clean N (default 2)")
    ap.add_argument("--max-runtime", type=float, default=3600.0,
                    help="a ramp starts no new step after this many seconds (default 3600)")
    ap.add_argument("--gst-encoders", choices=("shared", "per-camera"), default="shared",
                    help="gst source: one encoder for all cameras (default) or one each")
    ap.add_argument("--warmup", type=float, default=WARMUP_S,
                    help=f"seconds recorded before the measured window opens (default {WARMUP_S:g})")
    ap.add_argument("--keep", action="store_true", help="keep the output folder (printed) for inspection")
    args = ap.parse_args(argv)
    if args.cameras < 1 or args.duration <= 0:
        ap.error("--cameras and --duration must be positive")
    segment_s = args.segment_seconds or (30 if args.ramp else 60)
    sources = ["sim", "gst"] if args.source == "both" else [args.source]
    recorders = ["nvr", "ffmpeg"] if args.recorder == "both" else [args.recorder]
    began = time.monotonic()

    def log(msg: str) -> None:
        print(msg, flush=True)

    log(f"bench_recording: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU(s) "
        f"({platform.processor() or platform.machine()}), python {platform.python_version()}; streams "
        f"{WIDTH}x{HEIGHT} {FPS} fps ~{BITRATE_KBPS} kbit/s, keyframe every {GOP_S} s, RTSP over TCP on 127.0.0.1; "
        f"load average {os.getloadavg()[0]:.2f}")
    if "ffmpeg" in recorders or args.ramp:
        ensure_ffmpeg(log)
    if "gst" in sources:
        why = check_gst()
        if why:
            log(f"gst source unavailable ({why}); scripts/setup --test installs GStreamer. Skipping it.")
            sources.remove("gst")
            if not sources:
                return 1
    if "nvr" in recorders or args.ramp:
        try:
            import nvr.recorder  # noqa: F401
        except ImportError as exc:
            log(f"nvr.recorder is not importable ({exc}): measuring ffmpeg only")
            if args.ramp:
                return 1
            recorders = [r for r in recorders if r != "nvr"]
            if not recorders:
                return 1

    workdir = Path(tempfile.mkdtemp(prefix="nvr-bench-recording-"))
    trials: list[Trial] = []
    ramp_lines: list[str] = []
    try:
        if not args.ramp:
            for source in sources:
                for recorder in recorders:
                    trials.append(run_trial(source, recorder, args.cameras, args.duration, segment_s, workdir,
                                            args.gst_encoders, log, args.warmup))
                    _clean_trial_dirs(workdir, args.keep)
        else:
            for source in sources:
                ramp_lines.append(run_ramp(source, args, segment_s, workdir, began, trials, log))
    finally:
        if args.keep:
            log(f"output kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print_table(trials)
    lines = verdicts(trials)
    if lines or ramp_lines:
        print("\nverdict:")
        for line in lines + ramp_lines:
            print(f"  {line}")
    print(f"\ntotal time {time.monotonic() - began:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")
    return 0


def _clean_trial_dirs(workdir: Path, keep: bool) -> None:
    """Free disk between trials (footage of a big step is gigabytes)."""
    if keep:
        return
    for child in workdir.iterdir():
        shutil.rmtree(child, ignore_errors=True)


def run_ramp(source: str, args: argparse.Namespace, segment_s: int, workdir: Path, began: float,
             trials: list[Trial], log: Any) -> str:
    """Try growing N with nvr; at the first failure, ask ffmpeg and the source's CPU who failed."""
    best = 0
    best_anomalies = False
    for n in ramp_steps(args.ramp_max):
        if time.monotonic() - began > args.max_runtime:
            return (f"{source} source: ramp stopped by --max-runtime after N={best} (largest clean N so far: "
                    f"{best or 'none'})")
        t = t_first = run_trial(source, "nvr", n, args.ramp_duration, segment_s, workdir, args.gst_encoders, log,
                                args.warmup)
        trials.append(t)
        _clean_trial_dirs(workdir, args.keep)
        if t.clean and not t.source_saturated:
            best, best_anomalies = n, t.anomalies
            continue
        # nvr lost something (or the source ran out of CPU): is it the source?
        f = run_trial(source, "ffmpeg", n, args.ramp_duration, segment_s, workdir, args.gst_encoders, log,
                      args.warmup)
        trials.append(f)
        _clean_trial_dirs(workdir, args.keep)
        if t.clean:
            return (f"{source} source: nvr recorded N={n} cleanly but the source was saturated "
                    f"({t.source_cpu_pct:.0f} % CPU, machine {t.machine_cpu_pct:.0f} %): the largest N this "
                    f"machine can test is about {n}; nvr's own limit is not reached (largest clean N >= {n})")
        source_died = not t.ok and "source" in (t.error or "")
        source_limited = source_died or t.source_saturated or (f.ok and not f.clean) or f.source_saturated
        why = []
        if source_died:
            why.append(f"the source failed during the nvr run: {(t.error or '')[:300]}")
        if t.source_saturated or f.source_saturated:
            why.append(f"source CPU {max(t.source_cpu_pct, f.source_cpu_pct):.0f} %, machine "
                       f"{max(t.machine_cpu_pct, f.machine_cpu_pct):.0f} %")
        if f.ok and not f.clean:
            why.append(f"ffmpeg also lost footage ({f.lost} frames, {f.gaps} gaps)")
        if source_limited:
            return (f"{source} source: at N={n} footage was lost and the SOURCE cannot serve that many streams on "
                    f"this machine ({'; '.join(why)}); largest N recorded cleanly by nvr: {best or 'none'} "
                    f"(nvr's own limit may be higher)")
        failed = n
        for _ in range(args.ramp_refine):  # bisect between the last clean N and the failing one
            mid = int(round((best + failed) / 2 / 5) * 5)
            if mid <= best or mid >= failed or failed - best < 10 or time.monotonic() - began > args.max_runtime:
                break
            t = run_trial(source, "nvr", mid, args.ramp_duration, segment_s, workdir, args.gst_encoders, log,
                          args.warmup)
            trials.append(t)
            _clean_trial_dirs(workdir, args.keep)
            if t.clean and not t.source_saturated:
                best, best_anomalies = mid, t.anomalies
            else:
                failed = mid
        caveat = " (with timeline anomalies there, see notes)" if best_anomalies else ""
        return (f"{source} source: largest N nvr records without a gap or lost frame on this machine: "
                f"{best or 'none'}{caveat}; it fails at N={failed} (at N={n} nvr lost {t_first.lost} frames / "
                f"{t_first.gaps} gaps while ffmpeg recorded cleanly and the source had CPU to spare)")
    return f"{source} source: nvr recorded every step cleanly up to N={best} (--ramp-max {args.ramp_max})"


if __name__ == "__main__":
    sys.exit(main())
