"""Detector micro benchmark: CPU-ms per frame of the bundled person model, whole graph vs network only, batched.

Runs the ``[plugins.detect_openvino]`` detector (``OpenVinoDetector``, the code the server runs) on 640x360
frames of the simulator's clip, with as many calling threads as the detector's ``concurrency``, for each
variant in turn, over several interleaved rounds (the machine is shared: compare within a round). Prints a
markdown table: frames/s, CPU-ms per frame (``time.process_time``: every thread of the process, OpenVINO's
included), latency median and p99, mean batch size, and the load average when the row was measured.
See docs/benchmarks.md ("Analysis") and docs/detectors.md ("Performance").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_analysis_children import percentile, sub_frames  # noqa: E402

VARIANTS: dict[str, dict[str, Any]] = {
    "whole-graph": {"full_graph": True},  # before: the TF graph with its resize and NMS loops
    "network": {},  # the default now: the network in OpenVINO, NMS in numpy
    "network-b4": {"batch_size": 4},
    "network-b8": {"batch_size": 8},
}


def measure(settings: dict[str, Any], frames: list[Any], seconds: float, one_caller: bool) -> dict[str, Any]:
    from nvr.plugins.detect_openvino.config import DetectOpenVinoConfig
    from nvr.plugins.detect_openvino.detector import OpenVinoDetector

    detector = OpenVinoDetector(DetectOpenVinoConfig.model_validate(settings))
    callers = 1 if one_caller else detector.concurrency
    for f in frames[:callers]:
        detector.detect(f)
    if detector.batcher is not None:
        detector.batcher.stats.batches = detector.batcher.stats.frames = 0
    latencies: list[float] = []
    lock = threading.Lock()
    t0, cpu0 = time.perf_counter(), time.process_time()

    def worker(first: int) -> None:
        k, mine = first, []
        while time.perf_counter() - t0 < seconds:
            started = time.perf_counter()
            detector.detect(frames[k % len(frames)])
            mine.append(time.perf_counter() - started)
            k += callers
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stats = detector.batcher.stats if detector.batcher else None
    detector.close()
    return {"callers": callers, "fps": len(latencies) / wall, "cpu_ms": cpu / len(latencies) * 1000,
            "median_ms": statistics.median(latencies) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
            "batch": stats.frames / stats.batches if stats and stats.batches else 1.0, "load": os.getloadavg()[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per variant and round (15)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds over the variants (2)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names (default: all)")
    parser.add_argument("--one-caller", action="store_true",
                        help="also measure the unbatched variants with one caller (one inference at a time)")
    args = parser.parse_args()
    chosen = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    frames = sub_frames("street", 15)
    print(f"frames {frames[0].shape[1]}x{frames[0].shape[0]} (street scene), {os.cpu_count()} CPUs")
    print("| round | variant | callers | mean batch | frames/s | CPU-ms/frame | latency median ms | p99 ms | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rnd in range(1, args.rounds + 1):
        runs = [(name, False) for name in chosen]
        if args.one_caller:
            runs = [(name, True) for name in chosen if "batch_size" not in VARIANTS[name]] + runs
        for name, one in runs:
            r = measure(VARIANTS[name], frames, args.seconds, one)
            print(f"| {rnd} | {name} | {r['callers']} | {r['batch']:.1f} | {r['fps']:.1f} | {r['cpu_ms']:.1f} "
                  f"| {r['median_ms']:.0f} | {r['p99_ms']:.0f} | {r['load']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
