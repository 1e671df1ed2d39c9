"""The recorder against real RTSP (the simulator on 127.0.0.1): segments, runs, states, faults, stop, crash."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from nvr.media_units import AccessUnit, AudioTrack, AudioUnit, VideoTrack
from nvr.parameter_sets import describe
from nvr.recorder import Recorder, classify, credential_url, scrub
from nvr.recorder_events import STATES, ClosedSegment
from nvr.rtcp import SenderReport
from nvr.rtsp_errors import RtspProtocolError, RtspStatusError
from nvr.sim.faults import Faults
from nvr.sim.rtsp import RtspServer
from nvr.storage.layout import parse_relpath

from .gst_server import gst_rtsp_server, require_gst
from .helpers import closed_port, wait_for
from .test_segment_writer import assert_fragmented_mp4, boxes, clip_units

pytestmark = pytest.mark.timeout(90)

PASSWORD = "p@ss:w/rd%20é"  # needs percent-encoding in a URL
FRAME = 3600  # the simulator streams 25 fps


class Events:
    """A RecorderListener that keeps everything it is told."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []
        self.states: list[tuple[str, str | None]] = []
        self.segments: list[ClosedSegment] = []
        self.started: list[int] = []
        self.ended: list[tuple[int, int, str]] = []

    def state_changed(self, camera: str, state: str, detail: str | None) -> None:
        assert state in STATES
        self.states.append((state, detail))
        self.log.append(("state", state))

    def segment_closed(self, seg: ClosedSegment) -> None:
        self.segments.append(seg)
        self.log.append(("segment", seg.run_key))

    def run_started(self, camera: str, run_key: int, started_at_us: int) -> None:
        assert run_key == started_at_us
        self.started.append(run_key)
        self.log.append(("started", run_key))

    def run_ended(self, camera: str, run_key: int, ended_at_us: int, reason: str) -> None:
        self.ended.append((run_key, ended_at_us, reason))
        self.log.append(("ended", run_key))

    @property
    def state(self) -> str | None:
        return self.states[-1][0] if self.states else None

    def seen(self, state: str) -> bool:
        return any(s == state for s, _ in self.states)

    def segments_after(self, index: int) -> list[ClosedSegment]:
        return self.segments[index:]


@pytest.fixture
async def sim() -> AsyncIterator[RtspServer]:
    server = RtspServer(host="127.0.0.1", port=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def recorders(tmp_path: Path) -> AsyncIterator[Callable[..., tuple[Recorder, Events]]]:
    """Factory for started recorders writing under ``tmp_path/storage``; all are stopped afterwards."""
    made: list[Recorder] = []
    (tmp_path / "storage").mkdir()

    def make(camera: str, url: str, *, username: str | None = None, password: str | None = None,
             listener: Events | None = None, **kw: Any) -> tuple[Recorder, Events]:
        events = listener or Events()
        options: dict[str, Any] = {"transport": "tcp", "segment_seconds": 2, "stall_timeout_s": 2,
                                   "reconnect_max_s": 1, "io_timeout_s": 1.0}
        options.update(kw)
        recorder = Recorder(camera=camera, url=url, username=username, password=password,
                            storage_root=tmp_path / "storage", listener=events, loop=asyncio.get_running_loop(),
                            **options)
        recorder.start()
        made.append(recorder)
        return recorder, events

    yield make
    await asyncio.gather(*(r.stop() for r in made))


def check_segments(root: Path, events: Events, *, width: int | None = None) -> None:
    """Every closed segment is a durable, playable fMP4 file; runs are contiguous and their events ordered."""
    assert not list(root.rglob("*.part")), "no .part file survives a clean stop"
    assert events.log.count(("state", "stopped")) <= 1
    runs: dict[int, list[ClosedSegment]] = {}
    for seg in events.segments:
        runs.setdefault(seg.run_key, []).append(seg)
        path = root / seg.relpath
        assert path.is_file() and path.stat().st_size == seg.size_bytes, seg
        camera, start, run_key, seq = parse_relpath(seg.relpath)  # type: ignore[misc]
        assert (camera, run_key, seq) == (seg.camera, seg.run_key, seg.seq)
        assert_fragmented_mp4(path.read_bytes(), fragments=seg.keyframes)
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == seg.codec
            frames = list(container.decode(stream))
            duration = stream.duration * stream.time_base if stream.duration else None
        assert frames and frames[0].key_frame, f"{seg.relpath} does not start on a keyframe"
        assert len(frames) == seg.frames, seg
        assert {(f.width, f.height) for f in frames} == {(seg.width, seg.height)}, seg
        if width is not None:
            assert seg.width == width
        assert duration is not None and abs(duration * 90_000 - seg.media_duration) <= 1, (duration, seg)
        assert seg.start_time < seg.end_time
    for key, segs in runs.items():
        assert [s.seq for s in segs] == list(range(len(segs))), "seq counts 0, 1, 2... within a run"
        assert segs[0].start_time == key, "a run starts with its first segment"
        for a, b in pairwise(segs):
            assert b.start_time == a.end_time, "consecutive segments of a run are contiguous"
        span = segs[-1].end_time - segs[0].start_time
        media = sum(s.media_duration for s in segs) * 100 // 9
        assert abs(span - media) <= media * 0.005 + 40_000, (span, media)
        first, last = events.log.index(("started", key)), events.log.index(("ended", key))
        assert all(first < i < last for i, e in enumerate(events.log) if e == ("segment", key))
        ended = next(e for e in events.ended if e[0] == key)
        assert ended[1] == segs[-1].end_time
    keys = list(runs)
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    for a, b in pairwise(keys):  # runs do not overlap: a gap (or at least a touch) between them
        assert runs[a][-1].end_time <= b


# ---------------------------------------------------------------------------- recording

@pytest.mark.slow
async def test_records_contiguous_playable_segments_from_the_first_frame(
        sim: RtspServer, recorders: Callable[..., tuple[Recorder, Events]], tmp_path: Path) -> None:
    sim.add_camera("cam1", username="admin", password=PASSWORD)
    started = time.time()
    recorder, events = recorders("cam1", sim.url("cam1"), username="admin", password=PASSWORD)
    await wait_for(lambda: len(events.segments) >= 4, timeout=20)
    stats = recorder.stats
    await recorder.stop()
    stopped = time.time()
    assert events.states[:2] == [("connecting", None), ("recording", None)] and events.state == "stopped"
    assert len(events.started) == 1 and events.ended[0][2] == "shutdown"
    check_segments(tmp_path / "storage", events, width=1280)
    segs = events.segments
    # Every frame is there, the first one included (PyAV hands it over without timestamps).
    assert all(s.frames * FRAME == s.media_duration and s.keyframes >= 1 for s in segs)
    # The run is anchored to when the camera sent its first frame, not when the probing burst arrived.
    assert started <= segs[0].start_time / 1e6 <= started + 0.5
    assert abs(segs[-1].end_time / 1e6 - stopped) < 0.5
    assert segs[1].media_duration == 2 * 90_000 and segs[0].media_duration <= 2 * 90_000
    assert segs[0].codec == "h264" and segs[0].relpath.startswith("cam1/")
    assert stats.frames >= 100 and 20 <= stats.fps <= 30 and stats.bitrate_bps > 100_000
    assert stats.segments >= 4 and stats.reconnects == 0 and stats.state == "recording"
    assert stats.last_packet_at is not None and abs(stats.last_packet_at / 1e6 - time.time()) < 5


@pytest.mark.slow
async def test_udp_transport_and_a_failing_listener(sim: RtspServer, recorders: Callable[..., tuple[Recorder, Events]],
                                                    tmp_path: Path) -> None:
    class Broken(Events):
        def run_started(self, camera: str, run_key: int, started_at_us: int) -> None:
            super().run_started(camera, run_key, started_at_us)
            raise RuntimeError("listener bug")

    sim.add_camera("cam1")
    recorder, events = recorders("cam1", sim.url("cam1", "sub"), transport="udp", listener=Broken())
    await wait_for(lambda: len(events.segments) >= 2, timeout=15)
    await recorder.stop()
    check_segments(tmp_path / "storage", events, width=640)


async def test_connection_failures_map_to_states(sim: RtspServer, recorders: Callable[..., tuple[Recorder, Events]],
                                                 tmp_path: Path) -> None:
    sim.add_camera("cam1", username="admin", password=PASSWORD)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(50)  # accepts (the kernel does) and never answers
    cases = {
        "refused": (f"rtsp://127.0.0.1:{closed_port()}/cam1/main", "admin", PASSWORD, "offline", "refused"),
        "timeout": (f"rtsp://127.0.0.1:{silent.getsockname()[1]}/cam1/main", "admin", PASSWORD, "offline",
                    "timed out"),
        "missing": (sim.url("cam1").replace("/cam1/", "/nope/"), "admin", PASSWORD, "not_found", "404"),
        "password": (sim.url("cam1"), "admin", PASSWORD + "x", "auth_failed", "401"),
        "no-credentials": (sim.url("cam1"), None, None, "auth_failed", "401"),
    }
    made = {name: recorders(name, url, username=user, password=pw)[1]
            for name, (url, user, pw, _, _) in cases.items()}
    try:
        await wait_for(lambda: all(e.seen(cases[n][3]) for n, e in made.items()), timeout=10)
    finally:
        silent.close()
    for name, events in made.items():
        state, detail = next((s, d) for s, d in events.states if s == cases[name][3])
        assert detail and cases[name][4] in detail, (name, detail)
        assert not events.segments and not events.started
    assert not list((tmp_path / "storage").rglob("*"))


async def test_credentials_are_encoded_for_the_camera_and_kept_out_of_logs(
        sim: RtspServer, recorders: Callable[..., tuple[Recorder, Events]], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sim.add_camera("cam1", username="admin", password=PASSWORD)
    sim.add_camera("cam2", username="admin", password="another-secret")
    _, good = recorders("cam1", sim.url("cam1", "sub"), username="admin", password=PASSWORD)
    _, bad = recorders("cam2", sim.url("cam2", "sub"), username="admin", password=PASSWORD)
    await wait_for(lambda: good.state == "recording" and bad.seen("auth_failed"), timeout=10)
    text = caplog.text + repr(good.states) + repr(bad.states)
    for secret in (PASSWORD, "p%40ss", "w%2Frd"):
        assert secret not in text


def test_credential_url_and_scrub() -> None:
    url = credential_url("rtsp://cam.example:554/live", "ad min", "p@ss:/")
    assert url == "rtsp://ad%20min:p%40ss%3A%2F@cam.example:554/live"
    assert credential_url("rtsp://old:pw@host/x", "u", None) == "rtsp://u@host/x"
    assert credential_url("rtsp://host/x", None, None) == "rtsp://host/x"
    message = f"Server returned 401: '{url}' (password p@ss:/)"
    assert scrub(message, "p@ss:/") == "Server returned 401: 'rtsp://cam.example:554/live' (password ***)"


@pytest.mark.parametrize(("exc", "state", "words"), [
    (RtspStatusError("DESCRIBE", 401, "Unauthorized"), "auth_failed", "401"),
    (RtspStatusError("DESCRIBE", 403, "Forbidden"), "auth_failed", "403"),
    (RtspStatusError("DESCRIBE", 404, "Not Found"), "not_found", "404"),
    (RtspStatusError("SETUP", 461, "Unsupported Transport"), "error", "461"),
    (RtspStatusError("PLAY", 503, "Service Unavailable"), "error", "server error"),
    (ConnectionRefusedError(111, "refused"), "offline", "refused"),
    (TimeoutError(), "offline", "timed out"),
    (OSError(113, "No route to host"), "offline", "unreachable"),
    (ConnectionResetError(104, "reset"), "offline", "reset"),
    (RtspProtocolError("bad data on the connection"), "error", "bad data"),
    (ValueError("odd"), "error", "odd"),
])
def test_classify(exc: BaseException, state: str, words: str) -> None:
    got, detail = classify(exc, opening=True)
    assert got == state and words in detail and "rtsp://" not in detail


# ---------------------------------------------------------------------------- faults

async def scenario(name: str, faults: Faults, events: Events, steps: Callable[[], Awaitable[None]]) -> None:
    try:
        await wait_for(lambda: len(events.segments) >= 1, timeout=15)
        await steps()
    except AssertionError as exc:
        raise AssertionError(f"{name}: {exc}; states {events.states}; runs {len(events.started)}") from exc
    finally:
        faults.reset()


async def recovers(events: Events, runs_before: int) -> None:
    """Recording resumed on its own: a new run with a closed segment."""
    await wait_for(lambda: len(events.started) > runs_before
                   and any(s.run_key == events.started[-1] for s in events.segments), timeout=20)
    assert events.state == "recording"


@pytest.mark.slow
async def test_every_fault_leaves_playable_segments_and_recording_resumes(
        sim: RtspServer, recorders: Callable[..., tuple[Recorder, Events]], tmp_path: Path) -> None:
    names = ["drop", "stall", "unauthorized", "garbage", "jump", "resolution"]
    cams = {n: (sim.add_camera(n, username="admin", password="secret"),
                recorders(n, sim.url(n, "sub"), username="admin", password="secret")) for n in names}

    async def drop() -> None:
        faults, (_, events) = cams["drop"]
        runs = len(events.started)
        faults.drop_after = 0.2
        await wait_for(lambda: ("offline", "connection closed by the camera") in events.states
                       and len(events.ended) >= runs, timeout=10)
        faults.reset()
        await recovers(events, runs)

    async def stall() -> None:
        faults, (_, events) = cams["stall"]
        runs = len(events.started)
        faults.stall = True
        await wait_for(lambda: events.seen("stalled"), timeout=10)
        assert ("stalled", "no video for 2 s") in events.states
        faults.reset()
        await recovers(events, runs)

    async def unauthorized() -> None:
        faults, (_, events) = cams["unauthorized"]
        runs = len(events.started)
        faults.unauthorized = True
        faults.drop_after = 0.2  # the open session ends; reconnecting meets the 401
        await wait_for(lambda: events.seen("auth_failed"), timeout=10)
        faults.reset()
        await recovers(events, runs)

    async def garbage() -> None:
        faults, (_, events) = cams["garbage"]
        runs = len(events.started)
        faults.garbage = True
        await wait_for(lambda: len(events.ended) >= runs and events.state in ("offline", "error", "connecting"),
                       timeout=10)
        faults.reset()
        await recovers(events, runs)

    async def jump() -> None:
        faults, (_, events) = cams["jump"]
        count = len(events.segments)
        faults.timestamp_jump = 100.0
        await wait_for(lambda: len(events.segments) >= count + 2, timeout=15)
        faults.timestamp_jump = -30.0
        await wait_for(lambda: len(events.segments) >= count + 4, timeout=15)
        assert len(events.started) == 1 and not events.ended, "a timestamp jump is rebased, not a gap"

    async def resolution() -> None:
        faults, (_, events) = cams["resolution"]
        faults.resolution_change = True
        await wait_for(lambda: any(s.width == 960 for s in events.segments), timeout=15)
        faults.resolution_change = False
        changed = next(i for i, s in enumerate(events.segments) if s.width == 960)
        await wait_for(lambda: any(s.width == 640 for s in events.segments_after(changed)), timeout=15)
        assert len(events.started) == 1 and not events.ended, "a resolution change keeps the run"
        sizes = [(s.width, s.height) for s in events.segments]
        assert (960, 540) in sizes and sizes[0] == (640, 360)

    steps = {"drop": drop, "stall": stall, "unauthorized": unauthorized, "garbage": garbage, "jump": jump,
             "resolution": resolution}
    await asyncio.gather(*(scenario(n, cams[n][0], cams[n][1][1], steps[n]) for n in names))
    await asyncio.gather(*(cams[n][1][0].stop() for n in names))
    for name in names:
        events = cams[name][1][1]
        try:
            check_segments(tmp_path / "storage", events)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc
        if name not in ("jump", "resolution"):
            assert len(events.started) >= 2, f"{name}: the fault ended the run; a new one started"


# ---------------------------------------------------------------------------- stop

@pytest.mark.slow
async def test_stop_is_fast_for_stalled_and_unreachable_cameras(
        sim: RtspServer, recorders: Callable[..., tuple[Recorder, Events]], tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(100)
    made = []
    for i in range(8):
        faults = sim.add_camera(f"cam{i}")
        made.append((faults, *recorders(f"cam{i}", sim.url(f"cam{i}", "sub"), stall_timeout_s=10,
                                        io_timeout_s=2.0)))
    black = [recorders(f"hole{i}", f"rtsp://127.0.0.1:{silent.getsockname()[1]}/x/main", io_timeout_s=2.0)
             for i in range(40)]
    await wait_for(lambda: all(len(e.segments) >= 1 for _, _, e in made), timeout=20)
    for faults, _, _ in made:
        faults.stall = True
    await asyncio.sleep(0.5)
    begun = time.monotonic()
    await asyncio.gather(*(r.stop() for _, r, _ in made), *(r.stop() for r, _ in black))
    elapsed = time.monotonic() - begun
    silent.close()
    assert elapsed < 3.0, elapsed
    for _, recorder, events in made:
        assert events.state == "stopped" and recorder.state == "stopped"
        assert events.ended and events.ended[-1][2] == "shutdown"
    check_segments(tmp_path / "storage", made[0][2])


CHILD = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from nvr.recorder import Recorder

    class Printer:
        def __getattr__(self, name):
            return lambda *args: print(name, flush=True)

    async def main():
        recorder = Recorder(camera="cam1", url=sys.argv[1], username=None, password=None, transport="tcp",
                            storage_root=Path(sys.argv[2]), segment_seconds=60, listener=Printer(),
                            loop=asyncio.get_running_loop())
        recorder.start()
        await asyncio.Event().wait()

    asyncio.run(main())
""")


@pytest.mark.slow
async def test_a_crash_leaves_a_part_file_of_complete_fragments(sim: RtspServer, tmp_path: Path) -> None:
    sim.add_camera("cam1")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    root = tmp_path / "storage"
    root.mkdir()
    proc = await asyncio.create_subprocess_exec(sys.executable, str(script), sim.url("cam1", "sub"), str(root),
                                                stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        while (line := await asyncio.wait_for(proc.stdout.readline(), 15)) != b"run_started\n":
            assert line, "the child exited"
        await asyncio.sleep(3.6)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    parts = list(root.rglob("*.mp4.part"))
    assert len(parts) == 1 and not list(root.rglob("*.mp4"))
    data = parts[0].read_bytes()
    kinds = assert_fragmented_mp4(data)
    assert kinds.count("moof") >= 2
    with av.open(str(parts[0]), format="mp4") as container:
        frames = list(container.decode(video=0))
    assert frames[0].key_frame and len(frames) % 25 == 0, len(frames)  # whole GOPs only
    assert len(frames) == 25 * kinds.count("moof")
    assert os.path.getsize(parts[0]) == sum(size for *_, size in boxes(data)), "no torn fragment at the end"


# ---------------------------------------------------------------------------- an independent RTSP server

def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples - samples.mean()))
    return float(np.argmax(spectrum) * rate / len(samples))


GST_TRACKS = [("h264", "aac", "aac"), ("h265", "pcma", "pcm_alaw"), ("h264", "pcmu", "pcm_mulaw")]
"""(video, --audio option, the codec PyAV must find in our files)."""


@pytest.mark.slow
@pytest.mark.serial
async def test_gstreamer_h264_h265_with_aac_and_g711_are_recorded_and_play(
        recorders: Callable[..., tuple[Recorder, Events]], tmp_path: Path) -> None:
    require_gst()
    root = tmp_path / "storage"
    with contextlib.ExitStack() as stack:
        made = []
        for codec, audio, _ in GST_TRACKS:
            # 320x240: three live encoders (x265 among them) keep up in real time even on a busy machine
            urls = stack.enter_context(gst_rtsp_server(1, width=320, height=240, fps=15, gop=1, codec=codec,
                                                       audio=audio))
            made.append(recorders(f"gst-{codec}-{audio}", urls[0]))
        await wait_for(lambda: all(len(events.segments) >= 4 for _, events in made), timeout=40)
        await asyncio.gather(*(recorder.stop() for recorder, _ in made))
    for (codec, _, audio_codec), (_, events) in zip(GST_TRACKS, made, strict=True):
        check_segments(root, events, width=320)
        assert {s.codec for s in events.segments} == {"h264" if codec == "h264" else "hevc"}
        assert len(events.started) == 1
        for seg in events.segments[1:-1]:  # the first and the last may lack audio at their ends (best effort)
            with av.open(str(root / seg.relpath)) as container:
                assert [s.type for s in container.streams] == ["video", "audio"]
                stream = container.streams.audio[0]
                assert stream.codec_context.name == audio_codec, seg.relpath
                rate = stream.codec_context.sample_rate
                pcm = np.concatenate([f.to_ndarray()[0].astype(np.float64) for f in container.decode(stream)])
            seconds = seg.media_duration / 90_000
            assert len(pcm) >= rate * seconds * 0.9, (seg.relpath, len(pcm), rate, seconds)
            assert len(pcm) <= rate * (seconds + 0.5), (seg.relpath, len(pcm), rate, seconds)
            assert abs(dominant_frequency(pcm, rate) - 440) < 10, "the test tone comes through"


@pytest.mark.slow
async def test_recording_goes_on_while_the_callers_event_loop_is_blocked(
        recorders: Callable[..., tuple[Recorder, Events]], tmp_path: Path) -> None:
    """The packet path runs on the ingest thread: a stuck web/catalog loop delays the events, not the footage."""
    require_gst()
    root = tmp_path / "storage"
    with gst_rtsp_server(1, width=320, height=240, fps=15, gop=1) as urls:
        recorder, events = recorders("cam1", urls[0], segment_seconds=1)
        await wait_for(lambda: len(events.segments) >= 1, timeout=20)
        announced, runs = len(events.segments), len(events.started)  # (a first connection may have failed)
        time.sleep(4.0)  # noqa: ASYNC251 - the point: nothing else runs on this loop meanwhile
        assert len(events.segments) == announced, "no callback ran on the blocked loop"
        on_disk = len(list(root.rglob("*.mp4")))
        assert on_disk >= announced + 3, (announced, on_disk)
        await wait_for(lambda: len(events.segments) >= on_disk, timeout=5)
        await recorder.stop()
    check_segments(root, events, width=320)
    assert len(events.started) == runs, "no gap: the run went on"


# ---------------------------------------------------------------------------- one connection, fed from a file

def feed_clip(tmp_path: Path, camera: str, frames: int, *, split_parameter_sets: bool = False,
              segment_seconds: float = 2) -> list[tuple[str, tuple[Any, ...]]]:
    """Feed the simulator's clip through a StreamRecorder at 25 fps with real-time receipt stamps.

    The RTP timestamps start just below 2**32, so they wrap during the feed.
    """
    from nvr.recorder_run import StreamRecorder

    units = clip_units("main")
    emitted: list[tuple[str, tuple[Any, ...]]] = []
    root = tmp_path / "storage"
    root.mkdir(exist_ok=True)
    track = VideoTrack("h264", 96, params=describe("h264", units[0].params or ()), frame_duration=FRAME)
    run = StreamRecorder(camera=camera, root=root, video=track, audio=None, segment_seconds=segment_seconds,
                         emit=lambda name, *args: emitted.append((name, args)))
    t0 = 1_700_000_000_000_000
    base = (1 << 32) - 100 * FRAME
    for i in range(frames):
        source = units[i % len(units)]
        recv = t0 + i * 40_000
        ts = (base + i * FRAME) & 0xFFFFFFFF
        if split_parameter_sets and source.params:
            # The parameter sets arrive as a unit of their own with the picture's timestamp (a camera that
            # sets the marker bit after them): joined to the picture, never counted as a frame.
            run.on_video(AccessUnit(ts, recv, False, b"", source.params))
            run.on_video(AccessUnit(ts, recv, source.key, source.data, None))
        else:
            run.on_video(AccessUnit(ts, recv, source.key, source.data, source.params))
    run.finish("end of test")
    for name, args in emitted:
        if name == "segment_closed":
            args[1].result(10)  # durable
    return emitted


@pytest.mark.parametrize("after_loss", [True, False])
def test_pictures_dropped_after_a_packet_loss_leave_a_hole_not_a_gap(tmp_path: Path, after_loss: bool) -> None:
    """45 pictures (1.8 s) dropped after a lost packet, the next keyframe half a second late: the connection
    went on, so the run does too, and the last picture before the hole lasts until that keyframe. The same
    hole without a loss reads as the camera pausing: the run ends before it."""
    from nvr.recorder_run import StreamRecorder

    units = clip_units("main")
    emitted: list[tuple[str, tuple[Any, ...]]] = []
    root = tmp_path / "storage"
    root.mkdir()
    track = VideoTrack("h264", 96, params=describe("h264", units[0].params or ()), frame_duration=FRAME)
    run = StreamRecorder(camera="cam1", root=root, video=track, audio=None, segment_seconds=60,
                         emit=lambda name, *args: emitted.append((name, args)))
    t0 = 1_700_000_000_000_000
    for i in [*range(5), *range(50, 125)]:
        late = 500_000 if i >= 50 else 0
        source = units[i % len(units)]
        run.on_video(AccessUnit(i * FRAME, t0 + i * 40_000 + late, source.key, source.data, source.params,
                                after_loss=after_loss and i == 50))
    run.finish("end of test")
    for name, args in emitted:
        if name == "segment_closed":
            args[1].result(10)
    segments = [args[0] for name, args in emitted if name == "segment_closed"]
    ended = [args[2] for name, args in emitted if name == "run_ended"]
    if after_loss:
        assert ended == ["end of test"] and len(segments) == 1
        assert segments[0].frames == 80 and segments[0].media_duration == 125 * FRAME
        with av.open(str(root / segments[0].relpath)) as container:
            packets = [p for p in container.demux(video=0) if p.size]
        assert packets[4].duration * packets[4].time_base == Fraction(46, 25), "the hole is held by the last picture"
    else:
        assert ended[0].startswith("no video for") and len(segments) == 2


def feed_with_audio(tmp_path: Path, *, video_latency_us: int, reports: bool) -> list[ClosedSegment]:
    """10 s of video and G.711 at 20 ms a packet, their RTP clocks unrelated (the audio's wraps after 2.5 s).

    Both are captured together; the video arrives ``video_latency_us`` later
    than the audio (an encoder's delay). With ``reports``, the camera's RTCP
    sender reports say which timestamps belong together.
    """
    from nvr.recorder_run import StreamRecorder

    units = clip_units("main")
    emitted: list[tuple[str, tuple[Any, ...]]] = []
    root = tmp_path / "storage"
    root.mkdir(exist_ok=True)
    track = VideoTrack("h264", 96, params=describe("h264", units[0].params or ()), frame_duration=FRAME)
    run = StreamRecorder(camera="cam1", root=root, video=track, audio=None, segment_seconds=2,
                         emit=lambda name, *args: emitted.append((name, args)))
    run.attach_audio(AudioTrack("pcm_alaw", 8, 8000, 1))
    t0, latency = 1_700_000_000_000_000, 3_000
    video_base, audio_base = 123_456, (1 << 32) - 20_000
    ntp0 = 3_900_000_000 << 32
    if reports:
        run.sender_report(True, SenderReport(ntp0, video_base))
        run.sender_report(False, SenderReport(ntp0, audio_base))
    for i in range(250):  # 10 s
        source = units[i % len(units)]
        run.on_video(AccessUnit(video_base + i * FRAME, t0 + i * 40_000 + latency + video_latency_us, source.key,
                                source.data, source.params))
        for k in (2 * i, 2 * i + 1):  # sent once its 20 ms are complete
            run.on_audio(AudioUnit((audio_base + k * 160) & 0xFFFFFFFF, t0 + (k + 1) * 20_000 + latency,
                                   bytes([0xD5 ^ (k & 0x7F)]) * 160, 160))
    run.finish("end of test")
    segments = [args[0] for name, args in emitted if name == "segment_closed"]
    for name, args in emitted:
        if name == "segment_closed":
            args[1].result(10)
    return segments


def audio_in(path: Path) -> tuple[Fraction, int, list[int], int]:
    """(start time, samples, packet dts, number mod 128 of the first audio packet) of a segment's audio."""
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        packets = [p for p in container.demux(audio) if p.size]
    first = packets[0]
    return first.dts * audio.time_base, sum(p.size for p in packets), [p.dts for p in packets], bytes(first)[0] ^ 0xD5


@pytest.mark.parametrize(("video_latency_us", "reports"), [(0, False), (300_000, True)])
def test_audio_lines_up_with_video_and_stays_continuous(tmp_path: Path, video_latency_us: int, reports: bool) -> None:
    """Each segment's audio starts with its video and holds exactly its share of samples: by receipt time when
    video and audio arrive equally late, by the sender reports when the video comes 300 ms after its audio."""
    segments = feed_with_audio(tmp_path, video_latency_us=video_latency_us, reports=reports)
    assert len(segments) >= 4 and len({s.run_key for s in segments}) == 1
    frame = 0
    for seg in segments[:-1]:
        first, samples, dts, packet = audio_in(tmp_path / "storage" / seg.relpath)
        assert abs(first) <= Fraction(1, 1000), (seg.relpath, first)  # audio starts with the video
        assert packet == 2 * frame % 128, "the audio captured with the segment's first picture"
        frame += seg.media_duration // FRAME
        assert abs(samples - seg.media_duration * 8000 // 90_000) <= 160, (seg.relpath, samples)
        assert dts == list(range(dts[0], dts[0] + 160 * len(dts), 160)), "continuous, no holes or overlaps"


def test_without_sender_reports_a_video_delay_shows_as_audio_placed_early(tmp_path: Path) -> None:
    segments = feed_with_audio(tmp_path, video_latency_us=300_000, reports=False)
    _, _, _, packet = audio_in(tmp_path / "storage" / segments[1].relpath)
    frame = segments[0].media_duration // FRAME
    assert packet == (2 * frame + 15) % 128, "receipt times alone put audio 300 ms early (the documented limit)"


@pytest.mark.parametrize("split", [False, True])
def test_rotation_on_keyframes_with_a_staggered_first_segment(tmp_path: Path, split: bool) -> None:
    from nvr.segment_writer import stagger_fraction

    emitted = feed_clip(tmp_path, "cam7", 250, split_parameter_sets=split)
    names = [name for name, _ in emitted]
    assert names[0] == "run_started" and names[-1] == "run_ended" and set(names[1:-1]) == {"segment_closed"}
    segs: list[ClosedSegment] = [args[0] for name, args in emitted if name == "segment_closed"]
    first_target = 2 * stagger_fraction("cam7")
    assert segs[0].media_duration / 90_000 == pytest.approx(int(first_target + 0.999), abs=0.001)  # next keyframe
    assert all(s.media_duration == 2 * 90_000 for s in segs[1:-1])
    assert sum(s.frames for s in segs) == 250 and all(s.frames * FRAME == s.media_duration for s in segs)
    assert segs[0].start_time == emitted[0][1][0] == 1_700_000_000_000_000
    for a, b in pairwise(segs):
        assert b.start_time == a.end_time and b.seq == a.seq + 1
    assert segs[-1].end_time == 1_700_000_000_000_000 + 250 * 40_000
    events = Events()
    events.log = [("started", segs[0].run_key), *[("segment", s.run_key) for s in segs], ("ended", segs[0].run_key)]
    events.segments, events.ended = segs, [emitted[-1][1]]
    check_segments(tmp_path / "storage", events, width=1280)
