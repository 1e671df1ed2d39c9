"""The processes ``scripts/bench_analysis.py`` starts, each in its own process so its CPU is measured apart.

* ``_source N SCENE``: nvr's camera simulator serving N cameras (main 1280x720 and sub 640x360, 15 fps, a
  keyframe every 2 s);
* ``_samplers URLS_JSON MODE OUT``: one ``nvr.sampler.FrameSampler`` per sub stream at 0.5 fps, keyframes
  only (``keyframes``) or decoding every frame and keeping one every 2 s (``decode-all``);
* ``_detector SCENE SECONDS OUT``: the bundled person model's latency and throughput on 640x360 frames;
* ``_server CONFIG OUT``: a whole nvr server (``nvr.app.Server``: recording, analysis, catalog, web).

Window protocol (samplers, server): a child prints ``READY ...`` once running; the parent sends SIGUSR1
when its measured window opens and SIGUSR2 when it closes, and the child snapshots its counters (the server
also its threads' CPU) at those moments; SIGTERM stops it and it writes its results as JSON to OUT.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench_loop_lag import LoopLag

FPS, GOP_S = 15, 2
ANALYSIS_FPS = 0.5
CLK_TCK = os.sysconf("SC_CLK_TCK")


def clip_spec(scene: str) -> Any:
    """The simulator's clip: 15 fps, a keyframe every 2 s, x264 ultrafast CRF 16 (main ~2 Mbit/s)."""
    from nvr.sim.clip import ClipSpec

    return ClipSpec(fps=FPS, duration=10.0, gop_seconds=GOP_S, preset="ultrafast", crf=16, scene=scene)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# =========================================================================== source


def child_source(argv: list[str]) -> int:
    """Serve N simulated cameras; print READY and the port; stop on SIGTERM."""
    n, scene = int(argv[0]), argv[1]
    from nvr.sim.rtsp import RtspServer

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with RtspServer(port=0, clip_spec=clip_spec(scene)) as server:
            for i in range(1, n + 1):
                server.add_camera(f"cam{i}")
            main, sub = server.source("main").clip, server.source("sub").clip
            info = {"port": server.port, "main_kbps": round(main.bitrate / 1000), "sub_kbps": round(sub.bitrate / 1000)}
            print("READY " + json.dumps(info), flush=True)
            await stop.wait()

    asyncio.run(run())
    return 0


# =========================================================================== samplers


def child_samplers(argv: list[str]) -> int:
    """N FrameSamplers on the sub streams; ``decode-all`` makes nvr's decode-and-drop path run at 0.5 fps."""
    urls, mode, out = json.loads(Path(argv[0]).read_text()), argv[1], Path(argv[2])
    import nvr.sampler
    from nvr.sampler import FrameSampler

    if mode == "decode-all":
        # The sampler decodes every frame and keeps frames at the rate when the rate is above the keyframe
        # rate; an infinite slack makes it choose that path at 0.5 fps too (same code, same rate).
        nvr.sampler.KEYFRAME_SLACK = math.inf
    samplers = [FrameSampler(camera=f"cam{i}", url=url, username=None, password=None, fps=ANALYSIS_FPS,
                             deliver=lambda frame: None) for i, url in enumerate(urls, start=1)]
    marks: dict[str, Any] = {}
    stop = threading.Event()

    def snapshot() -> dict[str, Any]:
        return {"t": time.time(), "packets": sum(s.stats.packets for s in samplers),
                "decoded": sum(s.stats.decoded for s in samplers), "sampled": sum(s.stats.sampled for s in samplers),
                "reconnects": sum(s.stats.reconnects for s in samplers),
                "keyframes_only": sum(1 for s in samplers if s.stats.keyframes_only)}

    signal.signal(signal.SIGUSR1, lambda *_: marks.__setitem__("start", snapshot()))
    signal.signal(signal.SIGUSR2, lambda *_: marks.__setitem__("end", snapshot()))
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    for s in samplers:
        s.start()
    print("READY", flush=True)
    while not stop.is_set():
        time.sleep(0.2)
    for s in samplers:
        s.stop()
    for s in samplers:
        s.stop(timeout=6.0)
    marks["states"] = sorted({s.stats.state for s in samplers})
    out.write_text(json.dumps(marks))
    return 0


# =========================================================================== detector


def sub_frames(scene: str, count: int) -> list[Any]:
    """``count`` RGB 640x360 frames spread over the simulator's sub-stream clip (decoded with PyAV)."""
    import av

    from nvr.sim.clip import ensure_rendered

    spec = clip_spec(scene)
    path = ensure_rendered(spec)["sub"]
    frames = []
    with av.open(str(path), format="h264") as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
    step = max(1, len(frames) // count)
    return frames[::step][:count]


def child_detector(argv: list[str]) -> int:
    """Latency and throughput of the ``[plugins.detect_openvino]`` default model with 1 and N callers."""
    scene, seconds, out = argv[0], float(argv[1]), Path(argv[2])
    from nvr.plugins.detect_openvino.config import DetectOpenVinoConfig
    from nvr.plugins.detect_openvino.detector import OpenVinoDetector

    frames = sub_frames(scene, 15)
    began = time.perf_counter()
    detector = OpenVinoDetector(DetectOpenVinoConfig())
    load_s = time.perf_counter() - began
    found = [len(detector.detect(f)) for f in frames]  # also warms up every request

    def bench(callers: int) -> dict[str, Any]:
        latencies: list[float] = []
        lock = threading.Lock()
        t0 = time.perf_counter()
        cpu0 = time.process_time()  # every thread of the process, OpenVINO's own included

        def worker(first: int) -> None:
            k = first
            mine = []
            while time.perf_counter() - t0 < seconds:
                s = time.perf_counter()
                detector.detect(frames[k % len(frames)])
                mine.append(time.perf_counter() - s)
                k += callers
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(callers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        return {"callers": callers, "frames": len(latencies), "median_ms": statistics.median(latencies) * 1000,
                "p99_ms": percentile(latencies, 0.99) * 1000, "fps": len(latencies) / wall, "cores": cpu / wall,
                "cpu_ms_per_frame": cpu / len(latencies) * 1000}

    callers = sorted({1, detector.concurrency, 2})
    result = {"model": str(detector.model_path), "device": detector.config.device,
              "hint": detector.config.performance_hint, "concurrency": detector.concurrency, "load_s": load_s,
              "input": list(detector.plan.size or ()), "frame": list(frames[0].shape),
              "objects_per_frame": sum(found) / len(found), "runs": [bench(c) for c in callers]}
    detector.close()
    out.write_text(json.dumps(result))
    return 0


# =========================================================================== server


def _group(name: str) -> str:
    return re.sub(r"(-cam\d+|_\d+|-\d+)$", "", name)


OPENVINO_TIDS: set[int] = set()
"""Native threads that appeared while the server loaded its detector (OpenVINO's, see ``child_server``)."""


def thread_cpu() -> dict[int, tuple[str, float]]:
    """tid -> (thread group, CPU seconds) for every live thread of this process."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out = {}
    for entry in os.listdir("/proc/self/task"):
        tid = int(entry)
        try:
            raw = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        if tid in names:
            group = _group(names[tid])
        elif tid in OPENVINO_TIDS:
            group = "native:openvino"
        else:  # the samplers' libav decoders (slice threads) and anything else not started from Python
            group = "native:other"
        out[tid] = (group, cpu)
    return out


def thread_delta(start: dict[int, tuple[str, float]], end: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per thread group over the window (threads that ended in it are missing)."""
    groups: dict[str, float] = {}
    for tid, (group, cpu) in end.items():
        before = start.get(tid, (group, 0.0))[1]
        groups[group] = groups.get(group, 0.0) + max(0.0, cpu - before)
    return groups


def analysis_counters(runtime: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for name, cam in (runtime.analysis.cameras.items() if runtime.analysis else ()):
        status = cam.status()
        stats = cam.sampler.stats if cam.sampler else None
        for key in ("packets", "decoded", "sampled", "reconnects", "gop_s"):
            status[key] = getattr(stats, key, None)
        out[name] = status
    return out


async def recording_report(catalog_url: str, root: Path, cameras: list[str], start_us: int,
                           end_us: int) -> dict[str, Any]:
    """Per camera, from the catalog after the server stopped: segments, gaps in the window, runs, lost frames."""
    from bench_recording import count_frames  # holes in the packet timestamps of a file (no decoding)

    from nvr.storage.catalog import open_catalog

    catalog = await open_catalog(catalog_url)
    report: dict[str, Any] = {}
    try:
        for name in cameras:
            segments = await catalog.segments(name, 0, 2**62)
            gaps = await catalog.gaps(name, start_us, end_us, min_gap_us=round(1.5e6 / FPS))
            runs = await catalog.runs_in_range(name, start_us, end_us)
            lost = unreadable = 0
            for seg in segments:
                try:
                    lost += (await asyncio.to_thread(count_frames, root / seg.path))[1]
                except Exception:  # noqa: BLE001 - an unreadable file is counted
                    unreadable += 1
            report[name] = {"segments": len(segments), "frames": sum(s.frames for s in segments),
                            "gaps": len(gaps), "gap_s": sum(b - a for a, b in gaps) / 1e6, "runs": len(runs),
                            "lost_in_files": lost, "unreadable": unreadable}
    finally:
        await catalog.close()
    return report


def child_server(argv: list[str]) -> int:
    """One nvr server (``nvr.app.Server``) from CONFIG; results to OUT as JSON after it stopped."""
    config, out = Path(argv[0]), Path(argv[1])
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import nvr.analysis
    from nvr.app import Server

    load_detector = nvr.analysis.load_detector

    def load_and_mark(runtime: Any) -> Any:
        """The server's own ``load_detector``, noting the threads OpenVINO starts (compile, warm-up)."""
        before = {int(t) for t in os.listdir("/proc/self/task")}
        detector = load_detector(runtime)
        python = {t.native_id for t in threading.enumerate()}
        OPENVINO_TIDS.update({int(t) for t in os.listdir("/proc/self/task")} - before - python)
        return detector

    nvr.analysis.load_detector = load_and_mark  # looked up at call time by AnalysisService

    async def run() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        marks: dict[str, Any] = {}
        async with Server(config) as server:
            rt = server.runtime
            assert rt is not None
            lag = LoopLag()

            def snap(which: str) -> None:
                marks[which] = {"t": time.time(), "threads": thread_cpu(), "cams": analysis_counters(rt),
                                "detect_s": rt.analysis.detect_seconds if rt.analysis else 0.0,
                                "lag": lag.take()}

            loop.add_signal_handler(signal.SIGUSR1, snap, "start")
            loop.add_signal_handler(signal.SIGUSR2, snap, "end")
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            detector = rt.analysis.detector if rt.analysis else None
            print("READY " + json.dumps({"concurrency": getattr(detector, "concurrency", 0)}), flush=True)
            await stop.wait()
            lag.cancel()
            cameras = [c.name for c in rt.config.cameras]
            recorder_states = {c: getattr(rt.cameras.status(c), "state", None) for c in cameras} if rt.cameras else {}
            final = analysis_counters(rt)
            catalog_url, root = rt.config.catalog_url, rt.config.storage.root
        # Stopped: recorders closed their last segments and the indexer put them in the catalog.
        result: dict[str, Any] = {"recorder_states": recorder_states, "final": final}
        if "start" in marks and "end" in marks:
            start, end = marks["start"], marks["end"]
            result["window_s"] = end["t"] - start["t"]
            result["threads"] = thread_delta(start["threads"], end["threads"])
            result["start_cams"], result["end_cams"] = start["cams"], end["cams"]
            result["detect_s"] = end["detect_s"] - start["detect_s"]
            lags = end["lag"]
            result["loop_lag_ms"] = {"p50": percentile(lags, 0.5) * 1000, "p99": percentile(lags, 0.99) * 1000,
                                     "max": max(lags, default=0.0) * 1000}
            result["recording"] = await recording_report(catalog_url, root, cameras, round(start["t"] * 1e6),
                                                         round(end["t"] * 1e6))
        return result

    result = asyncio.run(run())
    out.write_text(json.dumps(result))
    return 0


CHILDREN = {"_source": child_source, "_samplers": child_samplers, "_detector": child_detector,
            "_server": child_server}
