"""Tables (markdown) and the verdict of ``scripts/bench_analysis.py``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from bench_analysis_children import FPS

THREAD_LABELS = {
    "nvr-decode": "analysis: keyframe decoders (shared pool, one thread per core)",
    "MainThread": "event loop (analysis pipelines, motion gate, tracker, events, indexer, web)",
    "detect": "analysis: detector callers (Python side)",
    "nvr-ingest": "ingest thread: RTSP/RTP of every main (recorded) and sub (analysed) stream",
    "nvr-files": "recording: file I/O threads",
    "asyncio": "asyncio worker threads (to_thread: JPEG snapshots, catalog)",
    "nvr-catalog": "catalog (SQLite) thread: segments, events",
    "native:openvino": "analysis: OpenVINO's inference threads (started when the detector loaded)",
    "native:other": "native threads started later (not OpenVINO's)",
}


def table(head: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def _per_core(n: float, cores: float) -> str:
    return f"{n / cores:.0f}" if cores > 0 else "—"


def samplers_table(trials: list[Any]) -> None:
    rows = []
    for t in trials:
        if t.error:
            rows.append([t.mode, str(t.n), "FAILED: " + t.error[:200]] + [""] * 7)
            continue
        w = t.window
        rows.append([t.mode, str(t.n), f"{w.seconds:.0f}", f"{t.cpu_s_per_cam_min:.3f}", f"{t.cams_per_core:.0f}",
                     f"{t.decoded / w.seconds:.1f}", f"{t.sampled}/{t.expected:.0f}", f"{w.source_pct:.0f}",
                     f"{w.machine_pct:.0f}", f"{w.load:.1f}"])
    print("\n**Samplers** (sub streams 640x360, 15 fps, GOP 2 s; one FrameSampler per camera at 0.5 fps, "
          "frames dropped on delivery):\n")
    table(["mode", "N", "window s", "CPU s/camera/min", "cameras per core", "decoded frames/s",
           "sampled/due", "source CPU %", "machine CPU %", "load"], rows)
    for t in trials:
        carried = t.n * FPS * t.window.seconds
        if t.mode == "decode-all" and not t.error and t.decoded < 0.95 * carried:
            print(f"* decode-all decoded {t.decoded / t.window.seconds:.0f} of the {carried / t.window.seconds:.0f} "
                  "frames/s the streams carry: the samplers fell behind real time (CPU per camera understated)")


def detector_table(det: dict[str, Any]) -> None:
    if not det:
        return
    if "error" in det:
        print(f"\n**Detector**: FAILED: {det['error'][:500]}")
        return
    print(f"\n**Detector** ({det['model'].rsplit('/', 1)[-1]}, input {'x'.join(map(str, det['input']))}, "
          f"{det['device']}, hint {det['hint']}, concurrency {det['concurrency']}, loaded in {det['load_s']:.1f} s; "
          f"frames 640x360 of the clip, {det['objects_per_frame']:.1f} detections per frame):\n")
    rows = []
    for r in det["runs"]:
        rows.append([str(r["callers"]), str(r["frames"]), f"{r['median_ms']:.1f}", f"{r['p99_ms']:.1f}",
                     f"{r['fps']:.1f}", f"{r['cores']:.2f}", f"{r['cpu_ms_per_frame']:.1f}",
                     f"{2000 / r['cpu_ms_per_frame']:.0f}" if r["cpu_ms_per_frame"] else "—"])
    table(["callers", "inferences", "latency median ms", "latency p99 ms", "frames/s", "cores used",
           "CPU ms/frame", "cameras per core at 0.5 fps (detector on every frame)"], rows)


def servers_table(trials: list[Any]) -> None:
    rows = []
    for t in trials:
        name = t.label or ("recording + analysis" if t.detect else "recording only")
        if not t.ok:
            rows.append([name, str(t.n), "FAILED: " + (t.error or "no window")[:300]] + [""] * 12)
            continue
        w, r = t.window, t.result
        if t.detect:
            runs, still = t.delta("detector_runs"), t.delta("skipped_still")
            mean_ms = r.get("detect_s", 0) / runs * 1000 if runs else 0.0
            inference = r.get("threads", {}).get("native:openvino")
            analysis = [f"{t.delta('frames')}/{t.expected_frames:.0f}", f"{t.dropped_ratio:.1%}",
                        f"{runs} ({still})", f"{mean_ms:.0f}",
                        f"{inference / runs * 1000:.1f}" if inference is not None and runs else "—"]
        else:
            analysis = ["—", "—", "—", "—", "—"]
        rows.append([name, str(t.n), f"{w.seconds:.0f}", f"{w.cores:.2f}", f"{t.cpu_s_per_cam_min:.3f}",
                     f"{w.rss_mb / t.n:.1f}", *analysis, f"{r['loop_lag_ms']['p99']:.0f}",
                     f"{t.recording('segments'):.0f}",
                     f"{t.recording('gaps'):.0f} ({t.recording('gap_s'):.1f} s)", str(t.lost_frames),
                     f"{w.source_pct:.0f}" + ("!" if t.source_saturated else ""), f"{w.machine_pct:.0f}",
                     f"{w.load:.1f}"])
    print("\n**nvr server** (main streams recorded, sub streams analysed at 0.5 fps; one process):\n")
    table(["trial", "N", "window s", "server cores", "CPU s/camera/min", "RSS MB/camera", "analysed/due",
           "dropped", "detector runs (still)", "detect ms (mean)", "inference CPU ms/run", "loop lag p99 ms",
           "segments", "gaps",
           "lost frames", "source CPU %", "machine CPU %", "load"], rows)
    for t in trials:
        for note in t.notes:
            print(f"* N={t.n} {'analysis' if t.detect else 'recording only'}: {note}")


def threads_table(trial: Any) -> None:
    threads = trial.result.get("threads", {})
    w = trial.result.get("window_s", 0.0)
    if not threads or not w:
        return
    total = trial.window.cpu_s
    rows = []
    for group, cpu in sorted(threads.items(), key=lambda kv: -kv[1]):
        if cpu / w < 0.005:
            continue
        label = THREAD_LABELS.get(group, group)
        rows.append([f"`{group}`", label, f"{cpu / w:.2f}", f"{cpu / total:.0%}" if total else "—"])
    ended = total - sum(threads.values())
    if ended / w >= 0.005:
        rows.append(["(other)", "threads that ended in the window, rounding", f"{ended / w:.2f}",
                     f"{ended / total:.0%}" if total else "—"])
    print(f"\n**Where the server's CPU went** (N={trial.n}, recording + analysis; per thread, /proc/self/task):\n")
    table(["thread", "what", "cores", "share"], rows)


def capacity(results: dict[str, Any]) -> dict[str, Any]:
    """Cameras per core of the analysing server: whole server, and analysis alone (two ways)."""
    servers = [t for t in results["servers"] if t.ok]
    full = next((t for t in servers if t.detect), None)
    base = next((t for t in servers if not t.detect and full is not None and t.n == full.n), None)
    if full is None:
        return {}
    cores = full.window.cores
    out = {"trial": full, "cores": cores, "whole": full.n / cores if cores else 0.0,
           "minus_threads": full.n / (cores - full.recording_cores) if cores > full.recording_cores else 0.0}
    if base is not None and cores > base.window.cores:
        out["baseline"] = base
        out["minus_baseline"] = full.n / (cores - base.window.cores)
    return out


def verdict(results: dict[str, Any], target: int) -> list[str]:
    lines = []
    cap = capacity(results)
    samplers = {t.mode: t for t in results["samplers"] if not t.error}
    if "keyframes" in samplers and "decode-all" in samplers:
        k, d = samplers["keyframes"], samplers["decode-all"]
        ratio = d.cpu_s_per_cam_min / k.cpu_s_per_cam_min if k.cpu_s_per_cam_min else 0.0
        lines.append(f"samplers alone: keyframes only {k.cams_per_core:.0f} cameras per core, decoding every "
                     f"frame {d.cams_per_core:.0f} ({ratio:.1f}x the CPU per camera)")
    if not cap:
        lines.append("no pipeline result: no verdict")
        return lines
    t = cap["trial"]
    primary = cap.get("minus_baseline", cap["minus_threads"])
    processed = min(1.0, (t.delta("frames") - t.delta("dropped")) / t.expected_frames) if t.expected_frames else 1.0
    how = ("the recording-only run's CPU subtracted" if "minus_baseline" in cap
           else "the ingest and file threads' CPU subtracted: the ingest thread also receives the sub streams")
    clean = t.recording_clean and t.analysis_clean and not t.source_saturated
    lines.append(f"N={t.n}: the server used {cap['cores']:.2f} cores: {cap['whole']:.0f} cameras per core for "
                 f"recording + analysis together; analysis alone {primary:.0f} cameras per core ({how}"
                 + (f"; {cap['minus_threads']:.0f} with the ingest and file threads subtracted"
                    if "minus_baseline" in cap else "") + ")")
    if "keyframes" in samplers and "decode-all" in samplers:
        extra = (samplers["decode-all"].cpu_s_per_cam_min - samplers["keyframes"].cpu_s_per_cam_min) * t.n / 60
        rec = cap["baseline"].window.cores if "baseline" in cap else t.recording_cores
        if cap["cores"] + extra > rec:
            lines.append(f"decoding every frame instead (derived: the pipeline's CPU + {extra:.2f} cores, the "
                         f"difference of the two sampler runs): {t.n / (cap['cores'] + extra):.0f} cameras per core "
                         f"with recording, {t.n / (cap['cores'] + extra - rec):.0f} for analysis alone")
    problems = []
    if not t.recording_clean:
        problems.append(f"the recording lost footage ({t.recording('gaps'):.0f} gaps, {t.lost_frames} frames)")
    if not t.analysis_clean:
        problems.append(f"analysis fell behind (dropped {t.dropped_ratio:.1%}, {t.frames_ratio:.0%} of due frames)")
    if t.source_saturated:
        problems.append("the source saturated")
    if processed < 0.995:
        lines.append(f"only {processed:.0%} of the due frames were analysed (the rest dropped): counting cameras by "
                     f"the frames analysed, {primary * processed:.0f} per core for analysis alone, "
                     f"{cap['whole'] * processed:.0f} with recording")
        primary *= processed
    met = primary >= target and clean
    gap = "" if primary >= target else f", {1 - primary / target:.0%} short"
    extrapolated = f" (extrapolated from {t.n} cameras)" if t.n * 2 < target else ""
    lines.append(f"target >= {target} cameras per core at 0.5 fps (keyframes only) while recording them, no gap: "
                 f"{'PASS' if met else 'MISS'} ({primary:.0f} per core{gap}{extrapolated}"
                 + ("; recording clean" if t.recording_clean else "") + (f"; {'; '.join(problems)}" if problems else "")
                 + ")")
    if t.window.machine_pct >= 95.0:
        lines.append(f"note: the machine was {t.window.machine_pct:.0f} % busy during the pipeline run (load average "
                     f"{t.window.load:.1f} on {os.cpu_count()} CPUs): other processes competed for the CPU, so "
                     "drops and latencies may come from them rather than from nvr")
    threads = t.result.get("threads", {})
    if threads:
        top, cpu = max(threads.items(), key=lambda kv: kv[1])
        share = cpu / t.window.cpu_s if t.window.cpu_s else 0.0
        lines.append(f"largest consumer: `{top}` ({share:.0%} of the server's CPU)")
    return lines


def print_report(results: dict[str, Any], args: argparse.Namespace, target: int) -> None:
    det = results.get("detector")
    if det:
        detector_table(det)
    if results["samplers"]:
        samplers_table(results["samplers"])
    if results["servers"]:
        servers_table(results["servers"])
        full = next((t for t in results["servers"] if t.detect and t.ok), None)
        if args.ramp:
            full = results.get("ramp_best") or full
        if full is not None:
            threads_table(full)
    print("\nverdict:")
    if args.ramp:
        best = results.get("ramp_best")
        if best is None:
            print(f"  ramp: no clean N ({results.get('ramp_end', '')})")
        else:
            cores, rec = best.window.cores, best.recording_cores
            alone = f"{best.n / (cores - rec):.0f}" if cores > rec else "—"
            print(f"  ramp: largest N analysed (0.5 fps) and recorded cleanly: {best.n}, the server using "
                  f"{cores:.2f} cores ({best.n / cores:.0f} cameras per core, recording included; analysis alone "
                  f"{alone} per core with the ingest and file threads subtracted); {results.get('ramp_end', '')}")
        return
    for line in verdict(results, target):
        print(f"  {line}")
