"""Export benchmark: nvr's signed export of one camera-hour vs ``ffmpeg -f concat -c copy``, and streaming TTFB.

Run with ``scripts/bench_export`` (uses the project's virtual environment).

1. **Footage** (cached under ``.cache/bench/``): one minute of H.264 (default
   1280x720, 15 fps, a keyframe every second, about 2 Mbit/s of moving noise,
   encoded once with x264), remuxed into ``--minutes`` one-minute fragmented
   MP4 segments the way the recorder writes them, and indexed in a SQLite
   catalog (one run, no gaps). Every segment holds the same minute.
2. **Export vs ffmpeg**, alternating, ``--repeat`` times each, with ``sync``
   before every run so one run's write-back does not slow the next:
   * ``nvr export``: the whole bundle as ``nvr export`` makes it (plan, every
     source file's SHA-256 checked against the catalog, the clip built by
     copying fragments, hashed, zipped, the manifest signed, fsynced, renamed);
   * ``nvr clip only``: the same clip (sources checked, fragments copied) into
     a plain file without hashing, zipping, signing or fsync: the work that
     compares with ffmpeg's;
   * ``ffmpeg -f concat -safe 0 -i list -c copy`` over the same segment files
     into one MP4 (page cache only), and the same followed by an fsync of its
     output (durable, as nvr's bundle is).
3. **Streaming**: ``nvr run`` on the same footage (a child process); an
   investigator downloads ``/api/cameras/<cam>/download.mp4`` for the whole
   range and for random 10-minute ranges: time to the first body byte
   (``--ttfb-samples``), and the time to read the whole range once.

All times are wall-clock on this machine. Nothing outside ``--cache-dir`` and
a temporary folder (removed at exit) is written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BUILD_VERSION = 1
"""Bump when the generated footage changes; it is part of the cache key."""
EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)
CAMERA = "bench-cam"
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
TARGET_TTFB_S = 0.2


@dataclass(frozen=True)
class Params:
    minutes: int
    width: int
    height: int
    fps: int
    bitrate: int

    @property
    def key(self) -> str:
        return (f"export-{self.minutes}min-{self.width}x{self.height}-{self.fps}fps-{self.bitrate // 1000}k"
                f"-b{BUILD_VERSION}")


# --------------------------------------------------------------------------- footage


def encode_minute(path: Path, p: Params) -> None:
    """60 s of moving noise as H.264 (Annex B): hard enough to code that x264 reaches the bitrate."""
    import av
    import numpy as np

    rng = np.random.default_rng(7)
    base = rng.integers(0, 255, (p.height, p.width), dtype=np.uint8)
    with av.open(str(path), "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=p.fps)
        stream.width, stream.height, stream.pix_fmt = p.width, p.height, "yuv420p"
        stream.bit_rate = p.bitrate
        kbps = p.bitrate // 1000
        stream.options = {"preset": "ultrafast", "g": str(p.fps), "keyint_min": str(p.fps), "sc_threshold": "0",
                          "bframes": "0", "x264-params": f"vbv-maxrate={kbps}:vbv-bufsize={kbps}:force-cfr=1"}
        for i in range(60 * p.fps):
            luma = np.roll(base, i * 7, axis=1) // 2 + rng.integers(0, 64, base.shape, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(np.stack([luma] * 3, -1), format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_segment(source: Path, path: Path, fps: int) -> int:
    """Remux the minute into a fragmented MP4 like the recorder's (90 kHz, a fragment per keyframe)."""
    import av

    ticks = 90_000 // fps
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(source), format="h264") as inp, \
            av.open(str(path), "w", format="mp4", options={"movflags": MOVFLAGS}) as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        ost.time_base = Fraction(1, 90_000)
        n = 0
        for packet in inp.demux(ist):
            if not packet.size:
                continue
            packet.stream, packet.pts, packet.dts, packet.duration = ost, n * ticks, n * ticks, ticks
            packet.time_base = ost.time_base
            out.mux(packet)
            n += 1
    return n


async def build(p: Params, dest: Path, log: Any) -> None:
    """Footage, segments and catalog under ``dest`` (built beside it, then renamed)."""
    from nvr.clock import utc_us
    from nvr.segments import file_digest
    from nvr.storage.catalog import open_catalog
    from nvr.storage.layout import segment_relpath

    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    started = time.monotonic()
    log(f"encoding one minute of {p.width}x{p.height} {p.fps} fps at {p.bitrate / 1e6:g} Mbit/s ...")
    encode_minute(tmp / "minute.h264", p)
    log(f"  {time.monotonic() - started:.0f} s; writing {p.minutes} segments ...")
    async with await open_catalog(str(tmp / "catalog.db")) as catalog:
        await catalog.upsert_camera(CAMERA)
        run_key = utc_us(EPOCH)
        run = await catalog.start_run(CAMERA, run_key)
        for i in range(p.minutes):
            start = EPOCH + timedelta(minutes=i)
            relpath = segment_relpath(CAMERA, start, run_key, i)
            frames = write_segment(tmp / "minute.h264", tmp / "storage" / relpath, p.fps)
            size, sha = file_digest(tmp / "storage" / relpath)
            await catalog.add_segment(
                run_id=run.id, start_time=utc_us(start), end_time=utc_us(start) + 60_000_000,
                media_duration=frames * (90_000 // p.fps), path=relpath, size_bytes=size, sha256=sha,
                frames=frames, keyframes=frames // p.fps, codec="h264", width=p.width, height=p.height)
        await catalog.end_run(run.id, utc_us(EPOCH + timedelta(minutes=p.minutes)), "bench")
    (tmp / "minute.h264").unlink()
    os.replace(tmp, dest)
    log(f"  built {dest} in {time.monotonic() - started:.0f} s")


# --------------------------------------------------------------------------- runs


def segment_files(data: Path) -> list[Path]:
    return sorted((data / "storage" / CAMERA).rglob("*.mp4"))


def run_ffmpeg(data: Path, work: Path) -> tuple[float, float]:
    """Seconds for ffmpeg concat -c copy, and until its output is fsynced."""
    listing = work / "list.txt"
    listing.write_text("".join(f"file '{f}'\n" for f in segment_files(data)))
    out = work / "ffmpeg.mp4"
    started = time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                    str(out)], check=True)
    copied = time.perf_counter() - started
    fd = os.open(out, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    durable = time.perf_counter() - started
    out.unlink()
    return copied, durable


async def run_nvr(data: Path, work: Path, p: Params, keep: bool = False) -> tuple[float, dict[str, Any]]:
    """Seconds for one signed bundle of the whole range, as ``nvr export`` makes it (removed unless ``keep``)."""
    from nvr.clock import SystemClock, utc_us
    from nvr.config import parse_config
    from nvr.export_plan import ExportRequest
    from nvr.export_service import ExportService
    from nvr.storage.catalog import open_catalog

    shutil.copyfile(data / "catalog.db", work / "catalog.db")
    config = parse_config(f'[storage]\nroot = "{data / "storage"}"\n[export]\ndir = "{work / "exports"}"\n'
                          f'key_file = "{work / "key.pem"}"\n', base_dir=work).config
    async with await open_catalog(str(work / "catalog.db")) as catalog:
        service = ExportService(catalog, lambda: config, SystemClock())
        await service.load_key()
        start = utc_us(EPOCH)
        request = ExportRequest((CAMERA,), start, start + p.minutes * 60_000_000, "BENCH-1", "benchmark")
        started = time.perf_counter()
        job = await service.submit(request, "bench")
        done = await service.run_job(job.id)
        seconds = time.perf_counter() - started
    if done is None or done.state != "done" or done.result is None:
        raise SystemExit(f"bench_export: the export failed: {done and done.error}")
    result = dict(done.result)
    if not keep:
        Path(result["bundle"]).unlink()
    return seconds, result


async def run_clip(data: Path, work: Path, p: Params) -> float:
    """Seconds for the clip alone (plan, sources checked, fragments copied) into a file, page cache only."""
    from nvr.clock import utc_us
    from nvr.export_clip import ClipBuilder
    from nvr.export_pipe import ahead
    from nvr.export_plan import plan_camera
    from nvr.storage.catalog import open_catalog

    shutil.copyfile(data / "catalog.db", work / "clip.db")
    started = time.perf_counter()
    async with await open_catalog(str(work / "clip.db")) as catalog:
        start = utc_us(EPOCH)
        plan = await plan_camera(catalog, data / "storage", CAMERA, start, start + p.minutes * 60_000_000)

    def copy() -> None:
        with open(work / "clip.mp4", "wb") as out:
            for piece in ahead(ClipBuilder(plan.clips[0], data / "storage")):
                out.write(piece)

    await asyncio.to_thread(copy)
    seconds = time.perf_counter() - started
    (work / "clip.mp4").unlink()
    (work / "clip.db").unlink()
    return seconds


def check_bundle_once(data: Path, work: Path, p: Params) -> str:
    """Export once more, verify the bundle and its clip's length; return a one-line summary."""
    from nvr.export_verify import verify_bundle

    _, result = asyncio.run(run_nvr(data, work, p, keep=True))
    report = verify_bundle(Path(result["bundle"]))
    clip = report.manifest["cameras"][0]["clips"][0] if report.manifest else {}
    Path(result["bundle"]).unlink()
    if not report.ok:
        raise SystemExit(f"bench_export: the bundle does not verify: {report.problems}")
    return (f"bundle verified: {clip.get('frames')} frames, {clip.get('duration_seconds')} s "
            f"(range {p.minutes * 60} s), {result['size_bytes'] / 1e6:.1f} MB")


# --------------------------------------------------------------------------- streaming


def start_server(data: Path, work: Path, password: str) -> tuple[subprocess.Popen[bytes], str]:
    shutil.copyfile(data / "catalog.db", work / "server.db")
    config = work / "nvr.toml"
    config.write_text(f'[server]\nport = 0\n[storage]\nroot = "{data / "storage"}"\n[catalog]\n'
                      f'url = "{work / "server.db"}"\n[export]\ndir = "{work / "exports"}"\n'
                      f'key_file = "{work / "key.pem"}"\n[log]\nlevel = "warning"\n')
    log = work / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "nvr", "run", "-c", str(config)], cwd=REPO,
                                env=dict(os.environ, NVR_ADMIN_PASSWORD=password), stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(r"nvr is running at (\S+)", log.read_text(errors="replace"))
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            raise SystemExit(f"bench_export: the server did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("bench_export: the server did not start within 60 s")


async def streaming(url: str, password: str, p: Params, samples: int) -> dict[str, Any]:
    import aiohttp

    from nvr.clock import utc_us

    start = utc_us(EPOCH)
    end = start + p.minutes * 60_000_000
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(url + "login") as resp:
            token = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text()).group(1)  # type: ignore[union-attr]
        async with s.post(url + "login", data={"username": "admin", "password": password, "csrf_token": token,
                                               "next": "/"}, allow_redirects=False) as resp:
            if resp.status != 303:
                raise SystemExit("bench_export: login failed")

        async def ttfb(a: int, b: int, read_all: bool = False) -> tuple[float, float, int]:
            began = time.perf_counter()
            async with s.get(url + f"api/cameras/{CAMERA}/download.mp4?start={a}&end={b}") as resp:
                if resp.status != 200:
                    raise SystemExit(f"bench_export: download answered {resp.status}: {await resp.text()}")
                first = await resp.content.readany()
                first_at = time.perf_counter() - began
                size = len(first)
                if read_all:
                    async for chunk in resp.content.iter_chunked(1 << 20):
                        size += len(chunk)
                return first_at, time.perf_counter() - began, size

        await ttfb(start, start + 60_000_000)  # warm-up: imports, first connection
        rng = random.Random(1)
        ranges = [(start, end)] + [(a, min(end, a + 600_000_000)) for a in
                                   (start + rng.randrange(0, max(1, end - start - 600_000_000)) for _ in
                                    range(max(0, samples - 1)))]
        firsts = [(await ttfb(a, b))[0] for a, b in ranges]
        _, whole, size = await ttfb(start, end, read_all=True)
    return {"ttfb": firsts, "whole_s": whole, "whole_bytes": size}


# --------------------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="nvr export vs ffmpeg concat -c copy; streaming time to first byte.")
    ap.add_argument("--minutes", type=int, default=60, help="one-minute segments in the range (default 60)")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--bitrate", type=int, default=2_000_000, help="bits per second (default 2000000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each tool, alternating (default 3)")
    ap.add_argument("--ttfb-samples", type=int, default=10, help="streamed downloads timed (default 10)")
    ap.add_argument("--cache-dir", type=Path, default=REPO / ".cache" / "bench")
    ap.add_argument("--rebuild", action="store_true", help="build the footage again")
    args = ap.parse_args(argv)
    p = Params(args.minutes, args.width, args.height, args.fps, args.bitrate)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    data = args.cache_dir / p.key
    if args.rebuild:
        shutil.rmtree(data, ignore_errors=True)
    if not data.exists():
        asyncio.run(build(p, data, log))
    files = segment_files(data)
    source_bytes = sum(f.stat().st_size for f in files)
    ffmpeg = shutil.which("ffmpeg")
    work = Path(tempfile.mkdtemp(prefix="nvr-bench-export-"))
    try:
        for f in files:  # warm the page cache the same way for both tools
            f.read_bytes()
        nvr_s: list[float] = []
        clip_s: list[float] = []
        ff_s: list[float] = []
        ff_durable: list[float] = []
        for i in range(args.repeat):
            for tool in (("nvr", "clip", "ffmpeg") if i % 2 == 0 else ("ffmpeg", "clip", "nvr")):
                os.sync()
                if tool == "clip":
                    clip_s.append(asyncio.run(run_clip(data, work, p)))
                elif tool == "nvr":
                    nvr_s.append(asyncio.run(run_nvr(data, work, p))[0])
                    shutil.rmtree(work / "exports", ignore_errors=True)
                    (work / "catalog.db").unlink()
                elif ffmpeg:
                    copied, durable = run_ffmpeg(data, work)
                    ff_s.append(copied)
                    ff_durable.append(durable)
        os.sync()
        summary = check_bundle_once(data, work, p)
        shutil.rmtree(work / "exports", ignore_errors=True)
        password = secrets.token_urlsafe(12)
        proc, url = start_server(data, work, password)
        try:
            stream = asyncio.run(streaming(url, password, p, args.ttfb_samples))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mb = source_bytes / 1e6
    med = statistics.median
    print(f"Export benchmark ({platform.node()}, {os.cpu_count()} CPU, Python {platform.python_version()}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d})")
    print(f"footage: {p.minutes} x 60 s segments of {p.width}x{p.height} {p.fps} fps H.264, {mb:.1f} MB "
          f"({source_bytes * 8 / (p.minutes * 60) / 1e6:.2f} Mbit/s); {args.repeat} run(s) each, alternating")
    print()
    print(f"| {'run':<58} | {'median s':>8} | {'min s':>6} | {'max s':>6} | {'MB/s':>6} |")
    print(f"|{'-' * 60}|{'-' * 10}|{'-' * 8}|{'-' * 8}|{'-' * 8}|")
    rows = [("nvr export (signed bundle: verify, copy, hash, zip, fsync)", nvr_s),
            ("nvr clip only (verify sources, copy; page cache)", clip_s)]
    if ffmpeg:
        rows += [("ffmpeg -f concat -c copy + fsync", ff_durable), ("ffmpeg -f concat -c copy (page cache)", ff_s)]
    for name, values in rows:
        print(f"| {name:<58} | {med(values):8.2f} | {min(values):6.2f} | {max(values):6.2f} | "
              f"{mb / med(values):6.0f} |")
    ttfb = stream["ttfb"]
    print()
    print(f"streamed download, time to first byte over {len(ttfb)} request(s): median {med(ttfb) * 1000:.0f} ms, "
          f"max {max(ttfb) * 1000:.0f} ms (target < {TARGET_TTFB_S * 1000:.0f} ms)")
    print(f"streamed download of the whole range: {stream['whole_bytes'] / 1e6:.1f} MB in {stream['whole_s']:.2f} s "
          f"({stream['whole_bytes'] / 1e6 / stream['whole_s']:.0f} MB/s)")
    print(summary)
    if ffmpeg:
        durable, cached = med(nvr_s) <= med(ff_durable), med(clip_s) <= med(ff_s)
        print(f"verdict: durable, nvr's signed bundle is {'at least as fast as' if durable else 'SLOWER than'} "
              f"ffmpeg's MP4 ({med(nvr_s):.2f} s vs {med(ff_durable):.2f} s); into the page cache, nvr's clip is "
              f"{'at least as fast as' if cached else 'SLOWER than'} ffmpeg's ({med(clip_s):.2f} s vs "
              f"{med(ff_s):.2f} s); TTFB {'OK' if max(ttfb) < TARGET_TTFB_S else 'OVER TARGET'}")
    else:
        print("verdict: ffmpeg not installed (apt-get install ffmpeg), no baseline; "
              f"TTFB {'OK' if max(ttfb) < TARGET_TTFB_S else 'OVER TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
