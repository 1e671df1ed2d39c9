"""What ``scripts/bench_web.py`` sets up and how it drives its children: the camera fleet (config), the
catalog's events, the child processes, CPU from ``/proc``, logging in."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve().parent / "bench_web.py"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ADMIN_PASSWORD = "bench-web-admin-password"
LIVE_CAMERA = "live-1"

KECAMATAN = ("Menteng", "Gambir", "Tanah Abang", "Senen", "Cempaka Putih", "Johar Baru", "Kemayoran", "Sawah Besar")
KELURAHAN = ("Menteng", "Pegangsaan", "Cikini", "Gondangdia", "Kebon Sirih", "Gambir", "Cideng", "Petojo Utara",
             "Petojo Selatan", "Kebon Kelapa", "Duri Pulo", "Bendungan Hilir", "Karet Tengsin", "Kebon Melati",
             "Kebon Kacang", "Kampung Bali", "Petamburan", "Gelora", "Senen", "Kwitang", "Kenari", "Paseban",
             "Kramat", "Bungur", "Cempaka Putih Timur", "Cempaka Putih Barat", "Rawasari", "Galur", "Tanah Tinggi",
             "Kampung Rawa", "Johar Baru", "Kemayoran", "Kebon Kosong", "Harapan Mulya", "Serdang", "Utan Panjang")
TAGS = ("jalan-raya", "simpang", "taman", "sekolah", "pasar", "terminal", "stasiun", "kantor", "masjid", "banjir",
        "rsud", "jembatan")
PLACES = ("Jl.", "Simpang", "Taman", "SDN", "Pasar", "Halte", "Pos", "Gg.", "Jembatan", "Kantor Kelurahan")
LABELS = (("person", 0.55), ("car", 0.25), ("motorcycle", 0.15), ("bicycle", 0.03), ("truck", 0.02))


# =========================================================================== the fleet


@dataclass(frozen=True)
class Fleet:
    """The configured cameras: ``n`` disabled ones spread over kelurahan/kecamatan with tags, and one live."""

    n: int
    n_kelurahan: int
    n_kecamatan: int

    @property
    def kecamatan(self) -> list[str]:
        return list(KECAMATAN[:self.n_kecamatan])

    @property
    def kelurahan(self) -> list[tuple[str, str]]:
        """(kelurahan, its kecamatan): each kecamatan holds a contiguous share of the kelurahan."""
        names = [KELURAHAN[i % len(KELURAHAN)] + ("" if i < len(KELURAHAN) else f" {i // len(KELURAHAN) + 1}")
                 for i in range(self.n_kelurahan)]
        per = -(-self.n_kelurahan // self.n_kecamatan)
        return [(name, self.kecamatan[i // per]) for i, name in enumerate(names)]

    def cameras(self) -> list[dict[str, Any]]:
        rng = random.Random(20261122)
        kel = self.kelurahan
        out = []
        for i in range(self.n):
            k, kc = kel[i % len(kel)]
            slug = re.sub(r"[^a-z0-9]+", "-", k.lower()).strip("-")
            tags = sorted(rng.sample(TAGS, rng.choice((1, 1, 2, 2, 3))))
            out.append({"name": f"{slug}-{i // len(kel) + 1:03d}", "title": f"{rng.choice(PLACES)} {k} {i + 1}",
                        "kelurahan": k, "kecamatan": kc, "tags": tags})
        return out


def _toml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # a TOML basic string / array of strings is valid JSON


def write_config(workdir: Path, fleet: Fleet, sim_port: int) -> tuple[Path, list[dict[str, Any]]]:
    """The server's config: the live camera first (on the simulator, not recorded), then the fleet, disabled."""
    kel0, kec0 = fleet.kelurahan[0]
    live = {"name": LIVE_CAMERA, "title": f"Live {kel0}", "kelurahan": kel0, "kecamatan": kec0, "tags": ["live"]}
    cameras = [live] + fleet.cameras()
    lines = ["[server]", 'host = "127.0.0.1"', "port = 0", "", "[log]", 'level = "warning"', "",
             "[storage]", f"root = {_toml(str(workdir / 'storage'))}", "",
             "[retention]", "min_free_percent = 0", "min_free_gb = 0", ""]
    for cam in cameras:
        lines += ["[[cameras]]", f"name = {_toml(cam['name'])}", f"title = {_toml(cam['title'])}",
                  f"kelurahan = {_toml(cam['kelurahan'])}", f"kecamatan = {_toml(cam['kecamatan'])}",
                  f"tags = {_toml(cam['tags'])}"]
        if cam is live:
            lines += [f'stream = {{ main = "rtsp://127.0.0.1:{sim_port}/cam/main", '
                      f'sub = "rtsp://127.0.0.1:{sim_port}/cam/sub" }}', "record = { enabled = false }"]
        else:
            lines += ["enabled = false", f'stream = {{ main = "rtsp://127.0.0.1:9/{cam["name"]}/main" }}']
        lines.append("")
    path = workdir / "nvr.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path, cameras


# =========================================================================== the catalog's events


def _snapshot_jpeg() -> bytes:
    """One small 320x180 JPEG, stored with every event (listing events never reads it)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 180), (90, 100, 110))
    draw = ImageDraw.Draw(img)
    for i in range(12):
        draw.rectangle((i * 27, 60 + (i * 37) % 80, i * 27 + 20, 170), fill=(40 + i * 15, 80, 160 - i * 9))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=75)
    return buf.getvalue()


async def build_catalog(catalog_url: str, cameras: list[dict[str, Any]], event_cameras: int, events: int,
                        days: float, ack_share: float, log: Any) -> dict[str, Any]:
    """Cameras and ``events`` events on ``event_cameras`` cameras over the last ``days``, through the catalog API
    (as analysis writes them: open with a snapshot, then ended; some acknowledged). Before the server starts."""
    from nvr.storage.catalog import open_catalog
    from nvr.storage.events_catalog import NewEvent, Snapshot

    rng = random.Random(7)
    began = time.perf_counter()
    jpeg = _snapshot_jpeg()
    catalog = await open_catalog(catalog_url)
    try:
        for cam in cameras:
            await catalog.upsert_camera(cam["name"], kelurahan=cam["kelurahan"], kecamatan=cam["kecamatan"],
                                        lat=None, lon=None)
        with_events = rng.sample([c["name"] for c in cameras], min(event_cameras, len(cameras)))
        weights = [1.0 / (1 + i) ** 0.7 for i in range(len(with_events))]  # a few busy cameras, a long tail
        now_us = int(time.time() * 1e6)
        starts = sorted(now_us - int(rng.random() * days * 86400e6) for _ in range(events))
        labels, label_w = zip(*LABELS, strict=True)
        ids = []
        for start in starts:
            label = rng.choices(labels, label_w)[0]
            x0, y0 = rng.random() * 0.7, rng.random() * 0.6
            crowd = label == "person" and rng.random() < 0.03
            new = NewEvent(camera=rng.choices(with_events, weights)[0], kind="crowd" if crowd else "object",
                           label=label, score=round(0.5 + rng.random() * 0.49, 3), start_us=start,
                           end_us=start + int(rng.uniform(2, 90) * 1e6), track_id=rng.randrange(1, 10**6),
                           box=(x0, y0, x0 + 0.1 + rng.random() * 0.2, y0 + 0.1 + rng.random() * 0.3),
                           zones=("trotoar",) if rng.random() < 0.3 else (),
                           severity="high" if crowd else rng.choice(("info", "info", "low", "medium")),
                           agency="satpol-pp" if crowd else None, rule="crowd" if crowd else None,
                           pre_roll_us=5_000_000, post_roll_us=5_000_000)
            ids.append((await catalog.open_event(new, Snapshot(jpeg, 320, 180, start))).id)
        ended = await catalog.end_ongoing_events(now_us)
        acked = 0
        for event_id in ids[: int(len(ids) * ack_share)]:  # the older ones
            await catalog.acknowledge_event(event_id, "admin", "checked" if rng.random() < 0.5 else None, now_us)
            acked += 1
    finally:
        await catalog.close()
    seconds = time.perf_counter() - began
    log(f"   catalog: {len(cameras)} cameras, {len(ids)} events on {len(with_events)} cameras over {days:g} days "
        f"({acked} acknowledged, {ended} ended, a {len(jpeg) / 1024:.0f} KiB snapshot each) in {seconds:.1f} s")
    return {"cameras": len(cameras), "events": len(ids), "event_cameras": len(with_events), "acked": acked,
            "seconds": seconds}


# =========================================================================== children


@dataclass
class Child:
    """A child process of this benchmark: stdout lines, stdin commands, stderr in a temporary file."""

    what: str
    proc: subprocess.Popen[bytes]
    errfile: Any
    ready: str = ""
    final_stderr: str = ""
    _buf: bytes = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self, tail: int = 1500) -> str:
        if self.errfile.closed:
            return self.final_stderr[-tail:]
        self.errfile.seek(0)
        return self.errfile.read().decode(errors="replace")[-tail:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def readline(self, timeout: float) -> str:
        """The next stdout line; raises ``RuntimeError`` after ``timeout`` s or when the child exits first."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{self.what}: no answer in {timeout:g} s; stderr:\n{self.stderr()}")
                if sel.select(min(left, 0.5)):
                    data = os.read(self.proc.stdout.fileno(), 1 << 16)
                    if not data:
                        self.proc.wait(5)
                        raise RuntimeError(f"{self.what} exited with {self.proc.returncode}; stderr:\n"
                                           f"{self.stderr()}")
                    self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode(errors="replace")

    def expect(self, prefix: str, timeout: float) -> str:
        line = self.readline(timeout)
        if not line.startswith(prefix):
            raise RuntimeError(f"{self.what}: expected {prefix!r}, got {line[:300]!r}; stderr:\n{self.stderr()}")
        return line[len(prefix):].strip()

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((command + "\n").encode())
        self.proc.stdin.flush()

    def mark(self, label: str, timeout: float = 180.0) -> None:
        """Snapshot the child's counters; an overloaded server's loop may take a while to get to it."""
        self.send(f"mark {label}")
        self.expect(f"OK {label}", timeout)

    def stop(self, timeout: float, command: bool = True) -> bool:
        """``stop`` (or SIGTERM), wait up to ``timeout`` s, then SIGKILL; True when it exited by itself."""
        if self.alive():
            try:
                if command and self.proc.stdin is not None:
                    self.send("stop")
                else:
                    self.proc.send_signal(signal.SIGTERM)
            except (BrokenPipeError, ProcessLookupError):
                pass
        clean = True
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            clean = False
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self.final_stderr = self.stderr(1 << 20)
        self.errfile.close()
        return clean


def start_child(what: str, args: list[str], workdir: Path, timeout: float, env: dict[str, str] | None = None,
                stdin: bool = True) -> Child:
    """Start ``bench_web.py <args>`` and wait for its ``READY`` line (the rest of the line is kept)."""
    errfile = tempfile.TemporaryFile(dir=workdir)
    full_env = dict(os.environ, **(env or {}))
    full_env.setdefault("NVR_SIM_CACHE", str(REPO / ".cache" / "sim"))
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=errfile,
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, cwd=REPO, env=full_env,
                            start_new_session=True)
    child = Child(what, proc, errfile)
    try:
        child.ready = child.expect("READY", timeout)
    except BaseException:
        child.stop(5.0, command=False)
        raise
    return child


# =========================================================================== /proc


def cpu_s(pid: int) -> float:
    """utime + stime of a process, all its threads (``/proc/<pid>/stat``)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return 0.0


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from ``/proc/stat``."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    total = sum(parts[:8])
    return total - idle, total


@dataclass
class Usage:
    """CPU of the server (and of one helper) over a window, from ``/proc``; the machine's share too."""

    seconds: float = 0.0
    server_s: float = 0.0
    helper_s: float = 0.0
    machine_pct: float = 0.0
    load: float = 0.0

    @property
    def server_pct(self) -> float:
        return self.server_s / self.seconds * 100 if self.seconds else 0.0

    @property
    def helper_pct(self) -> float:
        return self.helper_s / self.seconds * 100 if self.seconds else 0.0


class Meter:
    """``start()``, then ``stop()`` returns the ``Usage`` in between."""

    def __init__(self, server_pid: int, helper_pid: int | None = None) -> None:
        self.server_pid, self.helper_pid = server_pid, helper_pid
        self._t = 0.0
        self._m: tuple[int, int] = (0, 0)
        self._s = self._h = self._h_last = 0.0

    def _helper(self) -> float:
        if self.helper_pid is not None:
            with contextlib.suppress(OSError):  # it exited: its last reading stands
                self._h_last = cpu_s(self.helper_pid)
        return self._h_last

    def start(self) -> Meter:
        self._m, self._s, self._t = machine_cpu(), cpu_s(self.server_pid), time.monotonic()
        self._h = self._helper()
        return self

    def stop(self) -> Usage:
        m, s, h, t = machine_cpu(), cpu_s(self.server_pid), self._helper(), time.monotonic()
        busy, total = m[0] - self._m[0], m[1] - self._m[1]
        return Usage(t - self._t, s - self._s, h - self._h, busy / total * 100 if total else 0.0,
                     os.getloadavg()[0])


def settle(server_pid: int, max_s: float, below_pct: float = 15.0) -> float:
    """Wait (at most ``max_s``) until the server uses less than ``below_pct`` of a core over 0.5 s; seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < max_s:
        c0, t0 = cpu_s(server_pid), time.monotonic()
        time.sleep(0.5)
        if (cpu_s(server_pid) - c0) / (time.monotonic() - t0) * 100 < below_pct:
            break
    return time.monotonic() - began


# =========================================================================== HTTP


def client() -> Any:
    """An aiohttp session that keeps cookies from 127.0.0.1 (aiohttp drops IP-host cookies by default)."""
    import aiohttp

    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login(session: Any, base: str, username: str, password: str) -> str:
    """The login form's double-submit CSRF dance (GET /login, POST /login); returns the session cookie's value."""
    async with session.get(base + "login") as resp:
        match = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text())
    if not match:
        raise RuntimeError("the login page has no csrf_token field")
    async with session.post(base + "login", data={"username": username, "password": password,
                                                  "csrf_token": match.group(1), "next": "/"},
                            allow_redirects=False) as resp:
        if resp.status != 303 or "nvr_session" not in resp.cookies:
            raise RuntimeError(f"login failed: HTTP {resp.status}: {(await resp.text())[:300]}")
        return resp.cookies["nvr_session"].value


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)
