"""Tables (markdown), verdicts and py-spy summaries of ``scripts/bench_web.py``."""

from __future__ import annotations

import argparse
import math
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from bench_web_children import percentile, thread_delta

DASH_TARGET_MS = 300.0
API_TARGET_MS = 50.0
LIVE_TARGET_PCT = 5.0
CONTINUOUS_GAP_S = 5.0
"""A viewer paused longer than this (fragments come every keyframe, 2 s) did not receive continuously."""


def table(head: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def _ms(v: float) -> str:
    return "timeout" if math.isinf(v) else f"{v:.1f}"


def _ms_unit(v: float, timeout: float) -> str:
    return f"> {timeout:g} s (timed out)" if math.isinf(v) else f"{v:.1f} ms"


def verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**MISS**"


def _marks(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["label"]: m for m in results.get("server", {}).get("marks", [])}


def _phase(results: dict[str, Any], name: str) -> tuple[dict[str, float], list[float], float]:
    """Thread groups' CPU seconds, loop lag samples and seconds between ``name:start`` and ``name:end``."""
    marks = _marks(results)
    a, b = marks.get(f"{name}:start"), marks.get(f"{name}:end")
    if a is None or b is None:
        return {}, [], 0.0
    threads = {tid_key(k): v for k, v in a["threads"].items()}
    end = {tid_key(k): v for k, v in b["threads"].items()}
    return thread_delta(threads, end), b["lag"], b["t"] - a["t"]


def tid_key(k: Any) -> int:
    return int(k)


def dashboard_table(rows: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    print(f"\n**Dashboard** (`GET /`, one request at a time, client-side time on loopback, HTTP included; "
          f"target < {DASH_TARGET_MS:.0f} ms at p99):\n")
    out, verdicts = [], []
    for r in rows:
        ok = r["p99_ms"] < DASH_TARGET_MS
        verdicts.append((f"dashboard {r['kind']} (`{r['path']}`) p99", f"{r['p99_ms']:.0f} ms", ok))
        out.append([r["kind"], f"`{r['path']}`", str(r["n"]), f"{r['median_ms']:.1f}", f"{r['p95_ms']:.1f}",
                    f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}", f"{r['cpu_ms']:.1f}", str(r["tiles"]),
                    f"{r['kib']:.0f}", f"{r['load']:.1f}", verdict(ok)])
    table(["page", "path", "requests", "median ms", "p95 ms", "p99 ms", "max ms", "server CPU ms/request", "tiles",
           "KiB", "load", "verdict"], out)
    cold = rows[0].get("cold_ms") if rows else None
    if cold is not None:
        print(f"\nThe first dashboard request after start-up (templates compiled) took {cold:.0f} ms.")
    return verdicts


def api_tables(results: dict[str, Any], args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    api = results["api"]
    print(f"\n**JSON API at a fixed rate** (open loop: {args.rate:g} requests/s scheduled for "
          f"{args.api_duration:g} s after {args.api_warmup:g} s of warm-up, latency from the scheduled time; up to "
          f"{args.max_conns} connections; a request unanswered after {args.api_timeout:g} s fails; target p99 < "
          f"{API_TARGET_MS:.0f} ms; `/healthz` is a control: the same session lookup and HTTP stack, one catalog "
          "call, no handler work):\n")
    rows, verdicts = [], []
    for r in api["open"]:
        u = r["usage"]
        threads, lag, _ = _phase(results, r["name"])
        errors = sum(r["errors"].values())
        ok = r["p99_ms"] < API_TARGET_MS and errors / max(1, r["scheduled"]) < 0.01
        control = r["path"] == "/healthz"
        if not control:
            verdicts.append((f"`GET {r['path']}` p99 at {args.rate:g}/s",
                             f"{_ms_unit(r['p99_ms'], args.api_timeout)} ({r['achieved_rate']:.1f}/s answered)", ok))
        err = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0"
        rows.append([f"`{r['path']}`", f"{r['achieved_rate']:.1f}", f"{r['completed']}/{r['scheduled']}", err,
                     f"{_ms(r['p50_ms'])}", f"{_ms(r['p90_ms'])}", f"{_ms(r['p99_ms'])}", f"{_ms(r['max_ms'])}",
                     f"{_ms(r['p99_first_third_ms'])} / {_ms(r['p99_last_third_ms'])}", f"{r['bytes_mean'] / 1024:.1f}",
                     f"{u.server_pct:.0f}", f"{percentile(lag, 0.99) * 1000:.0f}" if lag else "—",
                     f"{u.helper_pct:.0f}", f"{u.machine_pct:.0f}", f"{u.load:.1f}",
                     "(control)" if control else verdict(ok)])
    table(["endpoint", "answered/s", "answered/scheduled", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms",
           "p99 first / last third", "KiB/response", "server CPU %", "loop lag p99 ms", "generator CPU %",
           "machine CPU %", "load", "verdict"], rows)
    for r in api["open"]:
        print(f"* `{r['path']}`: the generator sent its requests up to {r['send_lag_p99_ms']:.1f} ms late (p99; "
              f"it shares the machine); counted from the moment each left, p99 "
              f"{_ms_unit(r['p99_from_send_ms'], args.api_timeout)}.")
    if api["closed"]:
        most = f", {args.capacity_conns} clients the most it answers" if args.capacity_conns > 1 else ""
        print(f"\n**Closed loop** (each client sends its next request when the last one answered, "
              f"{args.capacity_duration:g} s: 1 client gives the time of one request on an otherwise idle server"
              f"{most}; cores needed at {args.rate:g}/s = server CPU per request x rate):\n")
        table(["endpoint", "clients", "requests/s", "p50 ms", "p99 ms", "server CPU %", "server CPU ms/request",
               f"cores needed at {args.rate:g}/s"],
              [[f"`{r['path']}`", str(r["conns"]), f"{r['achieved_rate']:.1f}", f"{r['p50_ms']:.1f}",
                f"{r['p99_ms']:.1f}", f"{r['usage'].server_pct:.0f}",
                f"{r['usage'].server_s / max(1, r['completed']) * 1000:.1f}",
                f"{r['usage'].server_s / max(1, r['completed']) * args.rate:.1f}"] for r in api["closed"]])
    return verdicts


def live_table(results: dict[str, Any], args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    live = results["live"]["windows"]
    by_n = {r["viewers"]: r for r in live}
    one = by_n.get(1)
    rate1 = (one["bytes"][0] / one["usage"].seconds) if one and one["bytes"] else 0.0
    print(f"\n**Live viewers** (`/api/cameras/live-1/live.mp4?stream={args.live_stream}`, one remux shared by "
          f"every viewer; server CPU over {args.live_duration:g} s windows; target: {args.viewers} viewers < "
          f"{LIVE_TARGET_PCT:g} % of a core more than 1):\n")
    rows = []
    for r in live:
        u, n = r["usage"], r["viewers"]
        threads, _, _ = _phase(results, r["name"])
        remux = sum(v for k, v in threads.items() if k.startswith("live-")) / u.seconds * 100 if u.seconds else 0
        # the hub's thread is named live-<camera>
        loop = threads.get("MainThread", 0.0) / u.seconds * 100 if u.seconds else 0
        if n:
            kibs = [b / u.seconds / 1024 for b in r["bytes"]]
            cont = all(g <= CONTINUOUS_GAP_S for g in r["max_gap"]) and not r["errors"] and min(r["bytes"]) > 0
            complete = f"{min(r['bytes']) / u.seconds / rate1:.0%}" if rate1 else "—"
            recv = (f"{min(kibs):.0f} / {statistics.median(kibs):.0f} / {max(kibs):.0f}", f"{max(r['max_gap']):.2f}",
                    "yes" if cont else "**NO**", complete)
        else:
            recv = ("—", "—", "—", "—")
        delta = u.server_pct - one["usage"].server_pct if one and n else None
        rows.append([str(n), f"{u.server_pct:.2f}", f"{delta:+.2f}" if delta is not None else "—",
                     f"{remux:.2f}", f"{loop:.2f}", *recv, f"{r['viewers_cpu_pct']:.1f}", f"{r['source_pct']:.1f}",
                     f"{u.machine_pct:.0f}", f"{u.load:.1f}"])
    table(["viewers", "server CPU % of a core", "vs 1 viewer", "remux thread %", "event loop %",
           "KiB/s per viewer min / median / max", "longest pause s", "continuous", "min bytes vs 1 viewer",
           "viewers' process CPU %", "source CPU %", "machine CPU %", "load"], rows)
    first, joined = results["live"]["first_fragment_s"][:1], results["live"]["first_fragment_s"][1:]
    if first and first[0] is not None:
        text = f"\nTime from the request to the first fragment (init segment + first keyframe's fragment): " \
               f"{first[0]:.1f} s for the first viewer (the server opens the camera)"
        joined = [j for j in joined if j is not None]
        if joined:
            text += f"; {statistics.median(joined):.1f} s median, {max(joined):.1f} s max for the viewers joining it"
        print(text + ".")
    verdicts = []
    many = by_n.get(args.viewers)
    if one and many and many is not one:
        delta = many["usage"].server_pct - one["usage"].server_pct
        cont = all(g <= CONTINUOUS_GAP_S for g in many["max_gap"]) and not many["errors"]
        verdicts.append((f"{args.viewers} live viewers vs 1: extra server CPU",
                         f"{delta:+.2f} % of a core" + ("" if cont else "; some viewers paused"),
                         delta < LIVE_TARGET_PCT and cont))
    return verdicts


def threads_table(results: dict[str, Any]) -> None:
    phases = [m["label"][:-6] for m in results.get("server", {}).get("marks", []) if m["label"].endswith(":start")]
    if not phases:
        return
    rows = []
    for name in phases:
        threads, lag, seconds = _phase(results, name)
        if not seconds:
            continue
        top = sorted(threads.items(), key=lambda kv: -kv[1])[:4]
        rows.append([name, f"{sum(threads.values()) / seconds * 100:.0f}",
                     ", ".join(f"{k} {v / seconds * 100:.1f}" for k, v in top if v > 0) or "—",
                     f"{percentile(lag, 0.5) * 1000:.1f} / {percentile(lag, 0.99) * 1000:.1f} / "
                     f"{max(lag, default=0) * 1000:.0f}"])
    print("\n**The server's threads** (CPU % of a core by Python thread name, from `/proc/self/task`; the event "
          "loop's 50 ms timer lateness):\n")
    table(["phase", "server CPU %", "busiest threads (%)", "loop lag p50 / p99 / max ms"], rows)


PLUMBING = ("security_headers", "api_errors", "auth_middleware", "_fix_request_current_app", "Application._handle",
            "RequestHandler._handle_request", "RequestHandler.start", "_run_once", "run_forever", "Handle._run",
            "run_until_complete", "<module>", "main", "run ", "_worker", "Thread.run", "Thread._bootstrap")
"""Frames every request passes through (middleware, event loop): left out of the inclusive list."""


def _function(frame: str) -> str:
    """``name (path:line)`` -> ``name (path)``: samples of one function at different lines add up."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def profile_summary(folder: Path, top: int = 10) -> None:
    """Per raw py-spy file: the functions with the most own samples, and nvr's functions by inclusive samples."""
    for path in sorted(folder.glob("*.txt")):
        own: Counter[str] = Counter()
        incl: Counter[str] = Counter()
        total = 0
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [_function(f) for f in stack.split(";") if not f.startswith(("thread ", "process "))]
            if not frames:
                continue
            total += n
            own[frames[-1]] += n
            for f in set(frames):
                if any(p in f for p in ("(nvr/", "(web/", "(storage/", "(plugins/", "(json/", "(jinja2/", "(pluggy/")) \
                        and not f.startswith(PLUMBING):
                    incl[f] += n
        if not total:
            continue
        print(f"\n`{path.name}`: {total} samples (every thread; idle ones sit in `select` or a lock):\n")
        table(["own time: function", "share", "inclusive: function", "share"],
              [[f"`{a[:110]}`", f"{ca / total:.0%}", f"`{b[:110]}`", f"{cb / total:.0%}"]
               for (a, ca), (b, cb) in zip(own.most_common(top), incl.most_common(top), strict=False)])


def print_report(results: dict[str, Any], args: argparse.Namespace) -> None:
    cat, srv = results.get("catalog", {}), results.get("server", {})
    print(f"Setup: {cat.get('cameras', '?')} cameras configured ({args.cameras} disabled, 1 live on the simulator); "
          f"{cat.get('events', '?')} events on {cat.get('event_cameras', '?')} cameras in the catalog (built in "
          f"{cat.get('seconds', 0):.0f} s); server start-up {srv.get('startup_s', 0):.1f} s, RSS at the end "
          f"{srv.get('rss_mb', 0):.0f} MB; load average at the start {' '.join(results.get('load_start', []))}, "
          f"at the end {' '.join(results.get('load_end', []))}.")
    sweep = srv.get("retention")
    if sweep:
        _, lag, _ = _phase(results, "boot")
        print(f"\nThe retention service's first sweep (5 s after start; then every 10 minutes) took "
              f"{sweep['total_s'] * 1000:.0f} ms ({sweep['plan_s'] * 1000:.0f} ms planning, {sweep['candidates']} "
              f"candidate segments); the event loop's timer ran up to {max(lag, default=0) * 1000:.0f} ms late "
              "meanwhile. The measurements start after it.")
    verdicts: list[tuple[str, str, bool]] = []
    if "dashboard" in results:
        verdicts += dashboard_table(results["dashboard"])
    if "api" in results:
        verdicts += api_tables(results, args)
    if "live" in results:
        verdicts += live_table(results, args)
    threads_table(results)
    for line in srv.get("log_errors", []):
        print(f"* server log: {line[:300]}")
    if not srv.get("clean_stop", True):
        print("* the server did not stop within 60 s (killed)")
    if args.profile is not None and args.profile.exists():
        print(f"\n**py-spy** ({args.profile}):")
        profile_summary(args.profile)
    print("\n**Verdict**:\n")
    table(["target", "measured", "verdict"], [[t, m, verdict(ok)] for t, m, ok in verdicts])
    missed = [t for t, _, ok in verdicts if not ok]
    print(f"\nverdict: {'all targets met' if not missed else 'missed: ' + '; '.join(missed)}")
