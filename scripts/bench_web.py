"""Web UI benchmark: the dashboard's server-side render, the JSON API under a fixed request rate, and the
cost of extra live viewers, on a city-sized camera fleet.

Run with ``scripts/bench_web`` (uses the project's virtual environment); see docs/benchmarks.md.

A whole nvr server (``nvr.app.Server`` with the built-in plugins, as ``nvr run`` starts it) runs in a child
process whose CPU is read from ``/proc``. Its config lists ``--cameras`` cameras (1,500; ``enabled = false``,
spread over ``--kelurahan`` kelurahan in ``--kecamatan`` kecamatan, 1-3 tags each) and one enabled camera,
``live-1``, on nvr's simulator (its own process: main 1280x720, sub 640x360, 15 fps, a keyframe every 2 s;
not recorded). Before the server starts, the catalog gets ``--events`` events on ``--event-cameras`` cameras
over 7 days through the catalog API (opened with a snapshot as analysis writes them, ended, the oldest 30 %
acknowledged). Every client runs on 127.0.0.1 after logging in as admin (the login form's CSRF dance).

1. **dashboard**: ``GET /`` (page 1), a filtered page (``?kecamatan=..&tag=..``) and page 30, each
   ``--dash-requests`` times one after the other (after 2 unmeasured): client-side time on loopback (the
   HTTP round trip included), median, p95, p99; the server's CPU per request. Target: < 300 ms (p99).
2. **API**: ``GET /api/events?limit=50`` and ``GET /api/cameras``, each at a fixed ``--rate`` (200/s) for
   ``--api-duration`` s (after 2 s of warm-up) from an open-loop load generator (its own process: requests
   leave at fixed times whatever the answers; latency is counted from the scheduled time, so queueing is in
   it): achieved rate, p50/p90/p99/max, errors, the server's CPU and event-loop lag. Target: p99 < 50 ms.
   Then each endpoint's capacity with a closed loop (``--capacity-conns`` clients, ``--capacity-duration`` s).
3. **live**: the server idle, then 1 viewer, then ``--viewers`` (20) viewers of
   ``/api/cameras/live-1/live.mp4`` (its own process, every viewer reading continuously), ``--live-duration``
   s each after ``--live-warmup`` s: the server's CPU in % of one core, bytes per viewer, the longest pause
   a viewer saw. Target: 20 viewers cost < 5 % of a core more than one.

All files go to a temporary folder removed at exit (``--keep`` keeps it). ``--quick`` is the test suite's
smallest run. ``--profile DIR`` samples the server with py-spy during each measured phase (raw collapsed
stacks in DIR; the top functions are printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_web_children import CHILDREN, percentile  # noqa: E402
from bench_web_setup import (  # noqa: E402
    ADMIN_PASSWORD,
    LIVE_CAMERA,
    Fleet,
    Meter,
    build_catalog,
    client,
    cpu_s,
    login,
    rss_mb,
    run_async,
    settle,
    start_child,
    write_config,
)

API_PATHS = ("/api/events?limit=50", "/api/cameras")
CONTROL_PATH = "/healthz"
"""The control: no handler work beyond one catalog call, but the same session lookup (the cookie is sent) and the
same HTTP stack, so it shows what the load tool, aiohttp and the middleware cost on this machine at the rate."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Dashboard render time, JSON API latency at a fixed rate, cost of "
                                 "extra live viewers, on a 1,500-camera config.", epilog="See docs/benchmarks.md.")
    ap.add_argument("--cameras", type=int, default=1500, help="configured (disabled) cameras (default 1500)")
    ap.add_argument("--kelurahan", type=int, default=30, help="kelurahan they are spread over (default 30)")
    ap.add_argument("--kecamatan", type=int, default=5, help="kecamatan holding those (default 5)")
    ap.add_argument("--events", type=int, default=10000, help="events in the catalog (default 10000)")
    ap.add_argument("--event-cameras", type=int, default=300, help="cameras that have events (default 300)")
    ap.add_argument("--dash-requests", type=int, default=100, help="measured requests per dashboard page (100)")
    ap.add_argument("--rate", type=float, default=200.0, help="API requests per second (default 200)")
    ap.add_argument("--api-duration", type=float, default=30.0, help="measured seconds per endpoint (default 30)")
    ap.add_argument("--api-warmup", type=float, default=2.0, help="unmeasured seconds of load first (default 2)")
    ap.add_argument("--settle", type=float, default=60.0,
                    help="before each phase, wait up to this many seconds for the server to go quiet (60)")
    ap.add_argument("--api-timeout", type=float, default=10.0, help="a request slower than this fails (10 s)")
    ap.add_argument("--max-conns", type=int, default=256,
                    help="connections the load generator may open (default 256); more requests wait for one")
    ap.add_argument("--capacity-duration", type=float, default=10.0,
                    help="seconds of each closed-loop run per endpoint, 1 client then --capacity-conns "
                         "(default 10; 0 = skip)")
    ap.add_argument("--capacity-conns", type=int, default=4, help="clients of the capacity run (default 4)")
    ap.add_argument("--no-control", dest="control", action="store_false",
                    help=f"leave out the control endpoint ({CONTROL_PATH}: the middleware and HTTP stack alone)")
    ap.add_argument("--viewers", type=int, default=20, help="simultaneous live viewers (default 20)")
    ap.add_argument("--live-duration", type=float, default=30.0, help="measured seconds per viewer count (30)")
    ap.add_argument("--live-warmup", type=float, default=5.0, help="seconds before a live window opens (5)")
    ap.add_argument("--live-stream", choices=("sub", "main"), default="sub", help="stream watched (default sub)")
    ap.add_argument("--skip", action="append", default=[], choices=("dashboard", "api", "live"),
                    help="leave a part out (repeatable)")
    ap.add_argument("--quick", action="store_true",
                    help="smallest run (the test suite's): 100 cameras, 200 events, 50 requests/s, 1-2 s windows, "
                         "3 viewers")
    ap.add_argument("--profile", type=Path, help="sample the server with py-spy in each phase; stacks go here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (printed)")
    args = ap.parse_args(argv)
    if args.quick:
        args.cameras, args.kelurahan, args.kecamatan = min(args.cameras, 100), min(args.kelurahan, 6), 2
        args.events, args.event_cameras = min(args.events, 200), min(args.event_cameras, 20)
        args.dash_requests, args.rate, args.api_duration, args.api_warmup = 5, min(args.rate, 50.0), 2.0, 0.5
        args.api_timeout, args.capacity_duration, args.capacity_conns = min(args.api_timeout, 5.0), 1.0, 1
        args.settle = 5.0
        args.live_duration, args.live_warmup, args.viewers = 2.0, 1.0, min(args.viewers, 3)
    if min(args.cameras, args.rate, args.viewers, args.dash_requests, args.kecamatan) < 1 \
            or args.kecamatan > args.kelurahan:
        ap.error("--cameras, --rate, --viewers, --dash-requests, --kecamatan must be positive, and --kecamatan "
                 "at most --kelurahan")
    if args.kecamatan > 8:
        ap.error("--kecamatan: at most 8")
    return args


# =========================================================================== py-spy


class Profiler:
    """py-spy sampling the server during one phase (``--profile``); stopped with SIGINT, it writes its stacks."""

    def __init__(self, folder: Path | None, pid: int, name: str) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.path = folder / f"{name}.txt" if folder else None
        if folder is None:
            return
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(exe).exists() and not shutil.which(exe):
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
        folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
                                      "--nonblocking", "--threads", "--output", str(self.path)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)

    def stop(self) -> Path | None:
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.path


# =========================================================================== phases


async def _dashboard(base: str, token: str, pages: list[tuple[str, str]], n: int, server: Any,
                     profile: Path | None, log: Any) -> list[dict[str, Any]]:
    import aiohttp

    out = []
    async with aiohttp.ClientSession(headers={"Cookie": f"nvr_session={token}"}) as s:
        first = True
        for kind, path in pages:
            times, sizes, tiles, cold = [], [], 0, None
            slug = "dash-" + kind.replace(" ", "-")
            for i in range(n + 2):
                if i == 2:
                    server.mark(f"{slug}:start")
                    meter = Meter(server.pid).start()
                    prof = Profiler(profile, server.pid, slug)
                t = time.perf_counter()
                async with s.get(base.rstrip("/") + path) as resp:
                    body = await resp.read()
                    status = resp.status
                elapsed = time.perf_counter() - t
                if status != 200:
                    raise RuntimeError(f"GET {path}: HTTP {status}: {body[:300]!r}")
                if first:
                    cold, first = elapsed, False
                if i >= 2:
                    times.append(elapsed)
                    sizes.append(len(body))
                    tiles = body.count(b'class="tile"')
            usage = meter.stop()
            server.mark(f"{slug}:end")
            prof.stop()
            row = {"name": slug, "kind": kind, "path": path, "n": n, "median_ms": statistics.median(times) * 1000,
                   "p95_ms": percentile(times, 0.95) * 1000, "p99_ms": percentile(times, 0.99) * 1000,
                   "max_ms": max(times) * 1000, "cold_ms": cold * 1000 if cold is not None else None,
                   "kib": statistics.mean(sizes) / 1024, "tiles": tiles,
                   "cpu_ms": usage.server_s / n * 1000, "load": usage.load}
            log(f"   {kind:<10} {path:<40} median {row['median_ms']:6.1f} ms, p99 {row['p99_ms']:6.1f} ms, "
                f"{tiles} tiles, {row['kib']:.0f} KiB, server CPU {row['cpu_ms']:.1f} ms/request")
            out.append(row)
    return out


def wait_first_sweep(server: Any, timeout: float, log: Any) -> dict[str, Any] | None:
    """The retention service sweeps 5 s after start: wait for it, so that it does not land in a window."""
    server.mark("boot:start")
    deadline = time.monotonic() + timeout
    sweep = None
    while True:
        server.send("status")
        sweep = json.loads(server.expect("OK status", 60.0))["retention"]
        if sweep is not None or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    server.mark("boot:end")
    if sweep is not None:
        log(f"   first retention sweep: planned in {sweep['plan_s'] * 1000:.0f} ms, {sweep['total_s'] * 1000:.0f} ms "
            f"in all")
    return sweep


def run_dashboard(args: argparse.Namespace, base: str, token: str, server: Any, fleet: Fleet, log: Any) -> list:
    kel, kec = fleet.kelurahan[0][0], fleet.kecamatan[0]
    total = args.cameras + 1
    last = min(30, -(-total // 48))
    pages = [("page 1", "/"), ("filtered", f"/?kecamatan={kec.replace(' ', '+')}&tag=taman"),
             (f"page {last}", f"/?page={last}")]
    log(f"-- dashboard: {args.dash_requests} requests per page, one at a time (kelurahan e.g. {kel})")
    return run_async(_dashboard(base, token, pages, args.dash_requests, server, args.profile, log))


def _load(spec: dict[str, Any], name: str, server: Any, workdir: Path, profile: Path | None) -> dict[str, Any]:
    """One load child: server CPU and marks over its START..END window; its result JSON with ``usage`` added."""
    spec_path, out = workdir / f"{name}.json", workdir / f"{name}-result.json"
    spec_path.write_text(json.dumps(spec))
    child = start_child(f"load generator ({name})", ["_load", str(spec_path), str(out)], workdir, 30.0, stdin=False)
    try:
        child.expect("START", 30.0 + spec.get("warmup", 0))
        meter = Meter(server.pid, child.pid).start()
        server.mark(f"{name}:start")
        prof = Profiler(profile, server.pid, name)
        child.expect("END", spec["duration"] + spec.get("timeout", 10) + 60)
        usage = meter.stop()
        server.mark(f"{name}:end")
        prof.stop()
        child.proc.wait(spec.get("timeout", 10) + 30)
    finally:
        child.stop(10.0, command=False)
    if not out.exists():
        raise RuntimeError(f"{child.what} wrote no result; stderr:\n{child.stderr()}")
    result = json.loads(out.read_text())
    result["usage"] = usage
    result["name"] = name
    return result


def run_api(args: argparse.Namespace, base: str, token: str, server: Any, workdir: Path, log: Any) -> dict:
    out: dict[str, list[dict[str, Any]]] = {"open": [], "closed": []}
    paths = (*API_PATHS, CONTROL_PATH) if args.control else API_PATHS
    for i, path in enumerate(paths):
        waited = settle(server.pid, args.settle)
        log(f"-- API: GET {path} at {args.rate:g} requests/s for {args.api_duration:g} s (open loop; settled "
            f"{waited:.0f} s)")
        spec = {"mode": "open", "base": base, "cookie": token, "path": path, "rate": args.rate,
                "warmup": args.api_warmup, "duration": args.api_duration, "timeout": args.api_timeout,
                "max_conns": args.max_conns}
        r = _load(spec, f"api-open-{i}", server, workdir, args.profile)
        u = r["usage"]
        log(f"   achieved {r['achieved_rate']:.1f}/s ({r['completed']}/{r['scheduled']}), p50 {_ms(r['p50_ms'])}, "
            f"p99 {_ms(r['p99_ms'])}, max {_ms(r['max_ms'])}, errors {r['errors'] or 0}, server "
            f"{u.server_pct:.0f} % of a core, generator {u.helper_pct:.0f} %, machine {u.machine_pct:.0f} %")
        out["open"].append(r)
    if args.capacity_duration > 0:
        for i, path in enumerate(paths):
            for conns in sorted({1, args.capacity_conns}) if path != CONTROL_PATH else [1]:
                settle(server.pid, args.settle)
                log(f"-- API closed loop: GET {path}, {conns} client(s), {args.capacity_duration:g} s")
                spec = {"mode": "closed", "base": base, "cookie": token, "path": path, "conns": conns,
                        "duration": args.capacity_duration, "timeout": args.api_timeout}
                r = _load(spec, f"api-closed-{i}-{conns}", server, workdir, None)
                log(f"   {r['achieved_rate']:.1f} requests/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                    f"server {r['usage'].server_pct:.0f} % of a core")
                out["closed"].append(r)
    return out


def _window(args: argparse.Namespace, server: Any, source: Any, viewers: Any, n: int) -> dict[str, Any]:
    """One measured live window with ``n`` viewers: server, viewers' process (helper) and source CPU."""
    name = f"live-{n}"
    prof = Profiler(args.profile if n else None, server.pid, name)
    viewers.mark(f"start-{n}")
    src0 = cpu_s(source.pid)
    meter = Meter(server.pid, viewers.pid).start()
    server.mark(f"{name}:start")
    time.sleep(args.live_duration)
    usage = meter.stop()
    server.mark(f"{name}:end")
    src = (cpu_s(source.pid) - src0) / usage.seconds * 100
    viewers.mark(f"end-{n}")
    prof.stop()
    return {"name": name, "viewers": n, "usage": usage, "source_pct": src, "viewers_cpu_pct": usage.helper_pct}


def _add_viewers(viewers: Any, k: int, timeout: float) -> None:
    viewers.send(f"add {k}")
    playing, _, errors = viewers.expect("OK add", timeout + 15).partition(" ")
    if int(playing) < k:
        raise RuntimeError(f"only {playing} of {k} new viewers got the stream in {timeout:g} s: {errors}")


def run_live(args: argparse.Namespace, base: str, token: str, server: Any, source: Any, workdir: Path,
             log: Any) -> dict[str, Any]:
    """The server idle, then 1 viewer, then ``--viewers`` (the first one stays): one process holds them all."""
    url = f"{base}api/cameras/{LIVE_CAMERA}/live.mp4?stream={args.live_stream}"
    spec_path, out = workdir / "viewers.json", workdir / "viewers-result.json"
    ready_timeout = 30.0
    spec_path.write_text(json.dumps({"url": url, "cookie": token, "ready_timeout": ready_timeout}))
    windows = []
    settle(server.pid, args.settle)
    viewers = start_child("live viewers", ["_viewers", str(spec_path), str(out)], workdir, 60.0)
    try:
        log(f"-- live: the server idle, {args.live_duration:g} s")
        windows.append(_window(args, server, source, viewers, 0))
        log(f"   server {windows[-1]['usage'].server_pct:.2f} % of a core")
        have = 0
        for n in sorted({1, args.viewers}):
            log(f"-- live: {n} viewer(s) of {LIVE_CAMERA} ({args.live_stream} stream), {args.live_duration:g} s "
                f"(+{args.live_warmup:g} s warm-up)")
            _add_viewers(viewers, n - have, ready_timeout)
            have = n
            time.sleep(args.live_warmup)
            windows.append(_window(args, server, source, viewers, n))
            log(f"   server {windows[-1]['usage'].server_pct:.2f} % of a core")
    finally:
        viewers.stop(30.0)
    if not out.exists():
        raise RuntimeError(f"the viewers wrote no result; stderr:\n{viewers.stderr()}")
    marks = json.loads(out.read_text())
    for w in windows:
        a, b = marks[f"start-{w['viewers']}"], marks[f"end-{w['viewers']}"]
        k = len(a["bytes"])
        w["bytes"] = [y - x for x, y in zip(a["bytes"], b["bytes"][:k], strict=True)]
        w["max_gap"] = b["max_gap"][:k]
        w["errors"] = [e for e in b["errors"][:k] if e]
        if w["viewers"]:
            u = w["usage"]
            log(f"   {w['viewers']} viewer(s): {min(w['bytes']) / u.seconds / 1024:.0f}-"
                f"{max(w['bytes']) / u.seconds / 1024:.0f} KiB/s each, longest pause {max(w['max_gap']):.2f} s")
    return {"windows": windows, "first_byte_s": marks["first_byte_s"], "first_fragment_s": marks["first_fragment_s"]}


def _ms(v: float) -> str:
    return "timeout" if v == float("inf") else f"{v:.1f} ms"


# =========================================================================== main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in CHILDREN:
        return CHILDREN[argv[0]](argv[1:])
    args = parse_args(argv)
    began = time.monotonic()
    from bench_web_report import print_report

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - began:4.0f} s] {msg}" if msg.startswith("--") else msg, flush=True)

    uptime = Path("/proc/loadavg").read_text().split()[:3]
    log(f"bench_web: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU(s) "
        f"({platform.processor() or platform.machine()}), python {platform.python_version()}; {args.cameras + 1} "
        f"cameras ({args.cameras} disabled in {args.kelurahan} kelurahan / {args.kecamatan} kecamatan + 1 live), "
        f"{args.events} events; load average {' '.join(uptime)}")
    workdir = Path(tempfile.mkdtemp(prefix="nvr-bench-web-"))
    results: dict[str, Any] = {"args": vars(args), "load_start": uptime}
    fleet = Fleet(args.cameras, args.kelurahan, args.kecamatan)
    source = server = None
    try:
        source = start_child("simulator source", ["_source"], workdir, 300.0, stdin=False)  # first run renders
        results["source"] = json.loads(source.ready)
        config, cameras = write_config(workdir, fleet, results["source"]["port"])
        log(f"-- setup: simulator on port {results['source']['port']} (main ~{results['source']['main_kbps']} "
            f"kbit/s, sub ~{results['source']['sub_kbps']} kbit/s)")
        results["catalog"] = run_async(build_catalog(str(workdir / "catalog.db"), cameras, args.event_cameras,
                                                     args.events, 7.0, 0.3, log))
        server = start_child("nvr server", ["_server", str(config), str(workdir / "server.json")], workdir, 300.0,
                             env={"NVR_ADMIN_PASSWORD": ADMIN_PASSWORD})
        info = json.loads(server.ready)
        base = info["url"]
        results["server"] = {"startup_s": info["startup_s"], "cameras": info["cameras"]}
        token = run_async(_login(base))
        log(f"   server {base} up in {info['startup_s']:.1f} s with {info['cameras']} cameras, "
            f"RSS {rss_mb(server.pid):.0f} MB; logged in as admin")
        results["server"]["retention"] = wait_first_sweep(server, 0.0 if args.quick else 60.0, log)
        if "dashboard" not in args.skip:
            results["dashboard"] = run_dashboard(args, base, token, server, fleet, log)
        if "api" not in args.skip:
            results["api"] = run_api(args, base, token, server, workdir, log)
        if "live" not in args.skip:
            results["live"] = run_live(args, base, token, server, source, workdir, log)
        results["server"]["rss_mb"] = rss_mb(server.pid)
        clean = server.stop(60.0)
        server_out = workdir / "server.json"
        results["server"]["marks"] = json.loads(server_out.read_text())["marks"] if server_out.exists() else []
        results["server"]["clean_stop"] = clean
        results["server"]["log_errors"] = [line for line in server.stderr(200_000).splitlines()
                                           if " ERROR " in line or "Traceback" in line][:5]
        server = None
    finally:
        for child in (server, source):
            if child is not None:
                child.stop(30.0, command=child is server)
        if args.keep:
            log(f"files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["load_end"] = Path("/proc/loadavg").read_text().split()[:3]
    print()
    print_report(results, args)
    print(f"\ntotal time {time.monotonic() - began:.0f} s; load average at the end {' '.join(results['load_end'])}")
    return 0


async def _login(base: str) -> str:
    async with client() as s:
        return await login(s, base, "admin", ADMIN_PASSWORD)


if __name__ == "__main__":
    sys.exit(main())
