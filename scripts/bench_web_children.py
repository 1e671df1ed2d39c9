"""The processes ``scripts/bench_web.py`` starts, each in its own process so the server's CPU is measured apart.

* ``_source``: nvr's camera simulator serving one camera (main 1280x720, sub 640x360, 15 fps, a keyframe
  every 2 s);
* ``_server CONFIG OUT``: a whole nvr server (``nvr.app.Server``, the built-in plugins as ``nvr run`` loads
  them) from the generated config;
* ``_load SPEC OUT``: an HTTP load generator on loopback, open loop at a fixed rate or closed loop;
* ``_viewers SPEC OUT``: N viewers of ``live.mp4``, each reading its stream continuously.

Protocol: a child prints ``READY <json>`` once running. The server and the viewers then read commands on
stdin, one a line: ``mark LABEL`` (snapshot the counters, answered ``OK LABEL``) and ``stop`` (write the
results as JSON to OUT and exit). The load generator prints ``START`` and ``END`` around its measured window
and exits by itself.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench_loop_lag import LoopLag

FPS, GOP_S = 15, 2
CLK_TCK = os.sysconf("SC_CLK_TCK")
COOKIE = "nvr_session"


def clip_spec() -> Any:
    """The simulator's clip, as in the other benchmarks: 15 fps, a keyframe every 2 s, x264 ultrafast CRF 16."""
    from nvr.sim.clip import ClipSpec

    return ClipSpec(fps=FPS, duration=10.0, gop_seconds=GOP_S, preset="ultrafast", crf=16, scene="street")


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0 for no values (``inf`` values stay ``inf``)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _commands(handle: Any) -> None:
    """Run ``handle(command, argument)`` for every stdin line, in this thread; ``stop`` also at EOF."""
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd:
            handle(cmd, arg)
        if cmd == "stop":
            return
    handle("stop", "")


def _reply(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# =========================================================================== source


def child_source(argv: list[str]) -> int:
    """Serve one simulated camera ``cam``; print READY and the port; stop on SIGTERM."""
    from nvr.sim.rtsp import RtspServer

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with RtspServer(port=0, clip_spec=clip_spec()) as server:
            server.add_camera("cam")
            main, sub = server.source("main").clip, server.source("sub").clip
            _reply("READY " + json.dumps({"port": server.port, "main_kbps": round(main.bitrate / 1000),
                                          "sub_kbps": round(sub.bitrate / 1000)}))
            await stop.wait()

    asyncio.run(run())
    return 0


# =========================================================================== server


def _group(name: str) -> str:
    return re.sub(r"(_\d+|-\d+)$", "", name)


def thread_cpu() -> dict[int, tuple[str, float]]:
    """tid -> (thread group, CPU seconds) for every live thread of this process (``/proc/self/task``)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out = {}
    for entry in os.listdir("/proc/self/task"):
        tid = int(entry)
        try:
            raw = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        out[tid] = (_group(names[tid]) if tid in names else "native", (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def thread_delta(start: dict[str, Any], end: dict[str, Any]) -> dict[str, float]:
    """CPU seconds per thread group between two marks (threads that ended in between are missing)."""
    groups: dict[str, float] = {}
    for tid, (group, cpu) in end.items():
        before = start.get(tid, (group, 0.0))[1]
        groups[group] = groups.get(group, 0.0) + max(0.0, cpu - before)
    return groups


def _sweep(runtime: Any) -> dict[str, Any] | None:
    """The retention service's last sweep (it sweeps 5 s after start, then every ``interval_minutes``)."""
    last = getattr(getattr(runtime, "retention", None), "last_sweep", None)
    if last is None:
        return None
    return {"time_us": last.time_us, "trigger": last.trigger, "plan_s": last.plan_s, "total_s": last.total_s,
            "candidates": last.candidates, "deleted": last.deleted, "error": last.error}


def child_server(argv: list[str]) -> int:
    """One nvr server (``nvr.app.Server``) from CONFIG; ``mark`` snapshots its threads' CPU and loop lag."""
    config, out = Path(argv[0]), Path(argv[1])
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from nvr.app import Server

    async def run() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        marks: list[dict[str, Any]] = []
        began = time.perf_counter()
        async with Server(config) as server:
            startup_s = time.perf_counter() - began
            lag = LoopLag()

            def snap(label: str) -> None:  # on the loop, so the lag samples are the loop's
                marks.append({"label": label, "t": time.time(), "threads": thread_cpu(), "lag": lag.take()})
                _reply(f"OK {label}")

            def status() -> None:
                _reply("OK status " + json.dumps({"retention": _sweep(server.runtime)}))

            def handle(cmd: str, arg: str) -> None:  # the stdin thread
                if cmd == "mark":
                    loop.call_soon_threadsafe(snap, arg)
                elif cmd == "status":
                    loop.call_soon_threadsafe(status)
                elif cmd == "stop":
                    loop.call_soon_threadsafe(stop.set)

            loop.add_signal_handler(signal.SIGTERM, stop.set)
            _reply("READY " + json.dumps({"url": server.url, "startup_s": startup_s,
                                          "cameras": len(server.runtime.config.cameras) if server.runtime else 0}))
            threading.Thread(target=_commands, args=(handle,), daemon=True).start()
            await stop.wait()
            lag.cancel()
            sweep = _sweep(server.runtime)
            began = time.perf_counter()
        return {"startup_s": startup_s, "stop_s": time.perf_counter() - began, "marks": marks, "retention": sweep}

    result = asyncio.run(run())
    out.write_text(json.dumps(result))
    return 0


# =========================================================================== load generator


def _raise_nofile() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _open_loop(spec: dict[str, Any]) -> dict[str, Any]:
    """Requests at fixed times (``rate`` per second) whatever the responses; latency counted from the scheduled
    time, so a slow server's queueing (and the pool's, when all ``max_conns`` connections are busy) is in it."""
    import aiohttp

    rate, warmup, duration = float(spec["rate"]), float(spec["warmup"]), float(spec["duration"])
    url, timeout = spec["base"].rstrip("/") + spec["path"], float(spec["timeout"])
    n_warm, n = round(rate * warmup), round(rate * duration)
    results: list[tuple[float, float, int, float, int]] = []  # (scheduled offset, latency, status, lag, bytes)
    last_answer = 0.0
    errors: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=int(spec["max_conns"]), force_close=False)
    session = aiohttp.ClientSession(connector=connector, headers={"Cookie": f"{COOKIE}={spec['cookie']}"},
                                    timeout=aiohttp.ClientTimeout(total=timeout), auto_decompress=False)
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int, due: float, measured: bool) -> None:
        nonlocal last_answer
        lag = loop.time() - due
        try:
            async with session.get(url) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if measured:
                kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
                errors[kind] = errors.get(kind, 0) + 1
                results.append((i / rate, math.inf, 0, lag, 0))
            return
        if measured:
            last_answer = max(last_answer, loop.time())
            if status != 200:
                errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1
            results.append((i / rate, loop.time() - due if status == 200 else math.inf, status, lag, len(body)))

    try:
        t0 = loop.time() + 0.2
        first_due = t0 + n_warm / rate
        for k in range(n_warm + n):
            measured = k >= n_warm
            if k == n_warm:
                _reply("START")
            due = t0 + k / rate
            await asyncio.sleep(max(0.0, due - loop.time()))  # 0 when behind: still lets the requests run
            task = loop.create_task(one(k - n_warm, due, measured))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.sleep(max(0.0, t0 + (n_warm + n) / rate - loop.time()))
        _reply("END")
        end_sent = loop.time()
        if tasks:
            await asyncio.wait(set(tasks), timeout=timeout + 5)
        drain_s = loop.time() - end_sent
    finally:
        for task in tasks:
            task.cancel()
        await session.close()
    results.sort()
    lat = [r[1] for r in results]
    ok = [r for r in results if r[2] == 200]
    third = max(1, len(results) // 3)
    answered_over = max(duration, last_answer - first_due)  # the window, or longer when answers came late
    return {"mode": "open", "path": spec["path"], "rate": rate, "duration": duration, "scheduled": n,
            "completed": len(ok), "achieved_rate": len(ok) / answered_over, "answered_over_s": answered_over,
            "errors": errors,
            "p50_ms": percentile(lat, 0.5) * 1000, "p90_ms": percentile(lat, 0.9) * 1000,
            "p99_ms": percentile(lat, 0.99) * 1000, "max_ms": max(lat, default=0.0) * 1000,
            "p99_first_third_ms": percentile(lat[:third], 0.99) * 1000,
            "p99_last_third_ms": percentile(lat[-third:], 0.99) * 1000,
            "send_lag_p99_ms": percentile([r[3] for r in results], 0.99) * 1000,
            "p99_from_send_ms": percentile([r[1] - r[3] for r in results], 0.99) * 1000,
            "bytes_mean": sum(r[4] for r in ok) / len(ok) if ok else 0, "drain_s": drain_s,
            "client_cpu_s": time.process_time()}


async def _closed_loop(spec: dict[str, Any]) -> dict[str, Any]:
    """``conns`` clients, each sending its next request when the last one answered: the server's capacity."""
    import aiohttp

    url, duration, conns = spec["base"].rstrip("/") + spec["path"], float(spec["duration"]), int(spec["conns"])
    loop = asyncio.get_running_loop()
    lat: list[float] = []
    errors: dict[str, int] = {}
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns),
                                    headers={"Cookie": f"{COOKIE}={spec['cookie']}"},
                                    timeout=aiohttp.ClientTimeout(total=float(spec["timeout"])))

    async def worker(end: float) -> None:
        while loop.time() < end:
            t = loop.time()
            try:
                async with session.get(url) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            if status == 200:
                lat.append(loop.time() - t)
            else:
                errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1

    try:
        _reply("START")
        t0 = loop.time()
        await asyncio.gather(*(worker(t0 + duration) for _ in range(conns)))
        wall = loop.time() - t0
        _reply("END")
    finally:
        await session.close()
    return {"mode": "closed", "path": spec["path"], "conns": conns, "duration": wall, "completed": len(lat),
            "achieved_rate": len(lat) / wall if wall else 0.0, "errors": errors,
            "p50_ms": percentile(lat, 0.5) * 1000, "p99_ms": percentile(lat, 0.99) * 1000,
            "client_cpu_s": time.process_time()}


def child_load(argv: list[str]) -> int:
    """Load on one URL as SPEC says (``mode`` open or closed); prints START/END around the measured window."""
    spec, out = json.loads(Path(argv[0]).read_text()), Path(argv[1])
    _raise_nofile()
    _reply("READY")
    result = asyncio.run(_open_loop(spec) if spec["mode"] == "open" else _closed_loop(spec))
    out.write_text(json.dumps(result))
    return 0


# =========================================================================== live viewers


class _Viewer:
    def __init__(self, began: float) -> None:
        self.began = began
        self.bytes = 0
        self.chunks = 0
        self.head = bytearray()
        self.last = 0.0
        self.max_gap = 0.0
        self.first_byte_s: float | None = None
        self.first_fragment_s: float | None = None
        self.error: str | None = None
        self.done = False

    @property
    def playing(self) -> bool:
        """The init segment (ftyp, moov) and the first fragment (moof) arrived."""
        return self.first_fragment_s is not None


def child_viewers(argv: list[str]) -> int:
    """Viewers of SPEC's live.mp4 URL: ``add K`` starts K more (answered ``OK add PLAYING`` once they play or
    after the spec's ``ready_timeout``); ``mark LABEL`` snapshots bytes and pauses per viewer."""
    spec, out = json.loads(Path(argv[0]).read_text()), Path(argv[1])
    _raise_nofile()
    import aiohttp

    url = spec["url"]
    viewers: list[_Viewer] = []
    marks: dict[str, Any] = {}

    async def watch(v: _Viewer, session: aiohttp.ClientSession) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with session.get(url) as resp:
                if resp.status != 200:
                    v.error = f"HTTP {resp.status}: {(await resp.text())[:200]}"
                    return
                async for chunk in resp.content.iter_any():
                    now = loop.time()
                    if v.first_byte_s is None:
                        v.first_byte_s = now - v.began
                    if v.last:
                        v.max_gap = max(v.max_gap, now - v.last)
                    v.last = now
                    v.bytes += len(chunk)
                    v.chunks += 1
                    if v.first_fragment_s is None:
                        v.head += chunk[:65536]
                        if v.head[4:8] == b"ftyp" and b"moof" in v.head:
                            v.first_fragment_s = now - v.began
                        elif len(v.head) > 65536 or v.head[4:8] not in (b"", b"ftyp"):
                            raise RuntimeError(f"not a fragmented MP4: {bytes(v.head[:16])!r}")
            v.error = "the stream ended"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported
            v.error = f"{type(exc).__name__}: {exc}"
        finally:
            v.done = True

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                        headers={"Cookie": f"{COOKIE}={spec['cookie']}"},
                                        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))

        def snap(label: str) -> None:
            now = loop.time()
            if label.startswith("start"):
                for v in viewers:
                    v.max_gap, v.last = 0.0, now  # pauses count from the window's start
            marks[label] = {"t": time.time(), "bytes": [v.bytes for v in viewers],
                            "max_gap": [max(v.max_gap, now - v.last) for v in viewers],
                            "errors": [v.error for v in viewers]}
            _reply(f"OK {label}")

        async def add(k: int) -> None:
            new = [_Viewer(loop.time()) for _ in range(k)]
            viewers.extend(new)
            tasks.extend(loop.create_task(watch(v, session)) for v in new)
            deadline = loop.time() + float(spec["ready_timeout"])
            while not all(v.playing or v.done for v in new) and loop.time() < deadline:
                await asyncio.sleep(0.02)
            _reply(f"OK add {sum(v.playing for v in new)} " + json.dumps([v.error for v in new if v.error][:3]))

        def handle(cmd: str, arg: str) -> None:
            if cmd == "mark":
                loop.call_soon_threadsafe(snap, arg)
            elif cmd == "add":
                loop.call_soon_threadsafe(lambda: tasks.append(loop.create_task(add(int(arg)))))
            elif cmd == "stop":
                loop.call_soon_threadsafe(stop.set)

        try:
            _reply("READY")
            threading.Thread(target=_commands, args=(handle,), daemon=True).start()
            await stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await session.close()
        marks["first_byte_s"] = [v.first_byte_s for v in viewers]
        marks["first_fragment_s"] = [v.first_fragment_s for v in viewers]
        marks["client_cpu_s"] = time.process_time()

    asyncio.run(run())
    out.write_text(json.dumps(marks))
    return 0


CHILDREN = {"_source": child_source, "_server": child_server, "_load": child_load, "_viewers": child_viewers}
