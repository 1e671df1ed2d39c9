"""Analysis benchmark: how many cameras nvr analyses per core at one frame every 2 s, while recording them.

Run with ``scripts/bench_analysis`` (uses the project's virtual environment); see docs/benchmarks.md.

Every camera is served over RTSP on 127.0.0.1 by nvr's simulator in its own process (its CPU is measured
apart): main stream 1280x720 and sub stream 640x360, 15 fps, a keyframe every 2 s, showing ``--scene``
(``street``: drawn people and cars moving, so the motion gate opens; ``people-1..3``: photos of a person;
``empty``: a plain wall). In one run, on the same streams:

1. **detector**: the bundled person model (``[plugins.detect_openvino]`` defaults) on 640x360 frames of
   the clip: latency (median, p99) and throughput with 1 caller and with the detector's ``concurrency``
   callers (and 2), CPU per inference;
2. **samplers**: one process running an ``nvr.sampler.FrameSampler`` per sub stream at 0.5 fps, first
   keyframes only (what nvr does at that rate), then decoding every frame and keeping one every 2 s (nvr's
   decode-and-drop path, forced at the same rate): CPU per camera, decoded frames/s, cameras per core;
3. **pipeline**: a whole nvr server (``nvr.app.Server`` in a child process: recording the main streams,
   analysing the sub streams at 0.5 fps, catalog, web) for ``--duration`` s: its CPU (also per thread
   group), analysis counters (frames, dropped, detector runs, frames skipped as still), the event loop's
   lag, and the recording from the catalog after it stopped (segments, gaps, frames lost);
4. **baseline**: the same server and cameras recording only (``--baseline-duration`` s), so analysis's
   share of the server's CPU is the difference.

``--ramp`` runs the pipeline alone at N = 10, 25, 50, 75, 100, 150, ... until analysis falls behind (more
than 5 % of the frames dropped or under 90 % of the due frames sampled), the recording shows a gap or
loses a frame, or the source saturates; it reports the largest clean N and the cores it used.

All output goes to a temporary folder removed at exit (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_analysis_children import ANALYSIS_FPS, CHILDREN  # noqa: E402
from bench_analysis_report import print_report  # noqa: E402

TARGET_CAMS_PER_CORE = 50
RAMP_STEPS = (10, 25, 50, 75, 100)
RAMP_STEP_AFTER = 50


def ramp_steps(max_n: int) -> list[int]:
    steps = [n for n in RAMP_STEPS if n <= max_n]
    n = RAMP_STEPS[-1] + RAMP_STEP_AFTER
    while n <= max_n:
        steps.append(n)
        n += RAMP_STEP_AFTER
    return steps


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Cameras analysed per core (keyframes only vs decode all), detector "
                                 "latency, and the recording alongside.", epilog="See docs/benchmarks.md.")
    ap.add_argument("--cameras", type=int, default=50, help="cameras (default 50)")
    ap.add_argument("--duration", type=float, default=120.0, help="measured seconds of the pipeline (default 120)")
    ap.add_argument("--sampler-duration", type=float, default=30.0,
                    help="measured seconds of each sampler mode (default 30; 0 = skip the samplers)")
    ap.add_argument("--detector-duration", type=float, default=10.0,
                    help="seconds per caller count of the detector benchmark (default 10; 0 = skip it)")
    ap.add_argument("--baseline-duration", type=float, default=60.0,
                    help="measured seconds of the recording-only server (default 60; 0 = skip it)")
    ap.add_argument("--warmup", type=float, default=10.0,
                    help="seconds the server runs before its window opens (default 10)")
    ap.add_argument("--segment-seconds", type=int, default=30, help="recording segment length (default 30)")
    ap.add_argument("--scene", default="street", choices=("street", "empty", "people-1", "people-2", "people-3"))
    ap.add_argument("--quick", action="store_true",
                    help="smallest run (the test suite's): short sampler and detector phases, no baseline, "
                         "10 s segments, 4 s warm-up")
    ap.add_argument("--ramp", action="store_true", help="find the largest N analysed and recorded cleanly")
    ap.add_argument("--ramp-duration", type=float, default=60.0, help="measured seconds per ramp step (default 60)")
    ap.add_argument("--ramp-max", type=int, default=300, help="largest N the ramp tries (default 300)")
    ap.add_argument("--max-runtime", type=float, default=3600.0,
                    help="a ramp starts no new step after this many seconds (default 3600)")
    ap.add_argument("--keep", action="store_true", help="keep the output folder (printed)")
    ap.add_argument("--compare-full-graph", action="store_true",
                    help="after the pipeline, run it again with the whole TF graph (full_graph = true: the detector "
                         "before its loops were cut), on the same streams")
    args = ap.parse_args(argv)
    if args.cameras < 1 or args.duration <= 0:
        ap.error("--cameras and --duration must be positive")
    if args.quick:
        args.sampler_duration = min(args.sampler_duration, 2.5)
        args.detector_duration = min(args.detector_duration, 1.0)
        args.baseline_duration = 0.0
        args.warmup = min(args.warmup, 4.0)
        args.segment_seconds = 10
    return args


def run_default(args: argparse.Namespace, workdir: Path, log: Any) -> dict[str, Any]:
    from bench_analysis_trials import run_detector, run_samplers, run_server, start_source

    results: dict[str, Any] = {"samplers": [], "servers": []}
    if args.detector_duration > 0:
        results["detector"] = run_detector(args.scene, args.detector_duration, workdir, log)
    source = start_source(args.cameras, args.scene, workdir)
    results["source"] = source
    log(f"-- source: {args.cameras} camera(s), main ~{source.main_kbps} kbit/s, sub ~{source.sub_kbps} kbit/s")
    try:
        if args.sampler_duration > 0:
            warm = 2.5 if args.quick else 6.0  # two keyframes: the sampler learns the GOP
            for mode in ("keyframes", "decode-all"):
                results["samplers"].append(run_samplers(mode, source, warm, args.sampler_duration, workdir, log))
        results["servers"].append(run_server(source, True, args.warmup, args.duration, args.segment_seconds,
                                             workdir, log, args.keep))
        if args.compare_full_graph:
            results["servers"].append(run_server(
                source, True, args.warmup, args.duration, args.segment_seconds, workdir, log, args.keep,
                extra="[plugins.detect_openvino]\nfull_graph = true\n", label="recording + analysis, whole graph"))
        if args.baseline_duration > 0:
            results["servers"].append(run_server(source, False, args.warmup, args.baseline_duration,
                                                 args.segment_seconds, workdir, log, args.keep))
    finally:
        source.child.stop(15.0)
    return results


def run_ramp(args: argparse.Namespace, workdir: Path, began: float, log: Any) -> dict[str, Any]:
    from bench_analysis_trials import run_server, start_source

    results: dict[str, Any] = {"samplers": [], "servers": [], "ramp": []}
    best = None
    for n in ramp_steps(args.ramp_max):
        if time.monotonic() - began > args.max_runtime:
            results["ramp_end"] = f"stopped by --max-runtime before N={n}"
            break
        source = start_source(n, args.scene, workdir)
        try:
            trial = run_server(source, True, args.warmup, args.ramp_duration, args.segment_seconds, workdir, log,
                               args.keep)
        finally:
            source.child.stop(15.0)
        results["servers"].append(trial)
        why = []
        if not trial.ok:
            why.append(f"the run failed ({(trial.error or '')[:200]})")
        else:
            if not trial.analysis_clean:
                why.append(f"analysis fell behind (dropped {trial.dropped_ratio:.1%}, sampled "
                           f"{trial.frames_ratio:.0%} of the due frames)")
            if not trial.recording_clean:
                why.append(f"the recording lost footage ({trial.recording('gaps'):.0f} gaps, "
                           f"{trial.lost_frames} frames)")
            if trial.source_saturated:
                why.append(f"the source saturated ({trial.window.source_pct:.0f} % of a core)")
        results["ramp"].append((n, why))
        if why:
            results["ramp_end"] = f"N={n} fails: " + "; ".join(why)
            break
        best = trial
    else:
        results["ramp_end"] = f"every step clean up to --ramp-max {args.ramp_max}"
    results["ramp_best"] = best
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in CHILDREN:
        return CHILDREN[argv[0]](argv[1:])
    args = parse_args(argv)
    began = time.monotonic()

    def log(msg: str) -> None:
        print(msg, flush=True)

    header = (f"bench_analysis: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU(s) "
              f"({platform.processor() or platform.machine()}), python {platform.python_version()}; "
              f"{'ramp' if args.ramp else f'{args.cameras} camera(s)'}, scene {args.scene}, main 1280x720 + sub "
              f"640x360 at 15 fps, a keyframe every 2 s, analysis at {ANALYSIS_FPS:g} fps; load average "
              f"{os.getloadavg()[0]:.2f}")
    log(header)
    workdir = Path(tempfile.mkdtemp(prefix="nvr-bench-analysis-"))
    try:
        results = run_ramp(args, workdir, began, log) if args.ramp else run_default(args, workdir, log)
    finally:
        if args.keep:
            log(f"output kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print_report(results, args, TARGET_CAMS_PER_CORE)
    print(f"\ntotal time {time.monotonic() - began:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
