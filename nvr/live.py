"""Live view without re-encoding: one remux of a camera's stream to fragmented MP4, fanned out to every viewer.

The first viewer of a camera starts a thread that reads the stream with PyAV and muxes it (stream copy) to
fragmented MP4 in memory; the bytes are cut into the init segment (ftyp + moov) and fragments (moof + mdat,
each starting on a keyframe). Each viewer gets the init segment, then fragments from the next keyframe on;
a slow viewer loses whole fragments (never half of one). The last viewer leaving stops the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import av

from nvr.av_errors import classify
from nvr.rtsp_credentials import credential_url, scrub

log = logging.getLogger(__name__)

VIEWER_QUEUE = 8
"""Fragments buffered per viewer (about a keyframe interval each) before the oldest are dropped."""
IO_TIMEOUT_S = 5.0
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"


class LiveUnavailable(Exception):
    """The camera's stream cannot be opened; ``str()`` says why without credentials."""


class BoxSplitter:
    """Cuts an MP4 byte stream into top-level boxes and groups them into the init segment and fragments."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.init: bytes | None = None
        self._pending: list[bytes] = []

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return the complete fragments (moof + mdat) they finished."""
        self._buf += data
        out: list[bytes] = []
        while len(self._buf) >= 8:
            size, kind = struct.unpack(">I4s", self._buf[:8])
            if size == 1 and len(self._buf) >= 16:
                size = struct.unpack(">Q", self._buf[8:16])[0]
            if size < 8 or len(self._buf) < size:
                break
            box, self._buf = bytes(self._buf[:size]), self._buf[size:]
            if kind in (b"ftyp", b"moov"):
                self._pending.append(box)
                if kind == b"moov":
                    self.init, self._pending = b"".join(self._pending), []
            elif kind == b"moof":
                self._pending = [box]
            elif kind == b"mdat" and self._pending:
                out.append(b"".join(self._pending) + box)
                self._pending = []
        return out


class _Sink:
    """The file object the muxer writes to."""

    def __init__(self, on_bytes) -> None:  # noqa: ANN001 - a callable taking bytes
        self._on_bytes = on_bytes

    def write(self, data: bytes) -> int:
        self._on_bytes(bytes(data))
        return len(data)

    def seekable(self) -> bool:
        return False


@dataclass(eq=False)
class _Viewer:
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(VIEWER_QUEUE))
    dropped: int = 0


class LiveHub:
    """One camera's live remux and its viewers."""

    def __init__(self, camera: str, url: str, username: str | None, password: str | None, transport: str,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.camera, self._url, self._username, self._password = camera, url, username, password
        self._transport, self._loop = transport, loop
        self.viewers: set[_Viewer] = set()
        self.splitter = BoxSplitter()
        self.error: str | None = None
        self.fragments = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = asyncio.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"live-{self.camera}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def wait_ready(self, timeout: float) -> bytes:
        """The init segment, once the stream is open; raises ``LiveUnavailable``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        if self.splitter.init is None:
            raise LiveUnavailable(self.error or "the camera sent no video in time")
        return self.splitter.init

    def _publish(self, fragment: bytes) -> None:  # on the loop
        self.fragments += 1
        for viewer in self.viewers:
            if viewer.queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    viewer.queue.get_nowait()
                viewer.dropped += 1
            viewer.queue.put_nowait(fragment)

    def _fail(self, message: str) -> None:  # on the loop
        self.error = message
        self._ready.set()
        for viewer in self.viewers:
            with contextlib.suppress(asyncio.QueueFull):
                viewer.queue.put_nowait(None)

    def _on_bytes(self, data: bytes) -> None:  # muxer thread
        had_init = self.splitter.init is not None
        fragments = self.splitter.feed(data)
        if not had_init and self.splitter.init is not None:
            self._loop.call_soon_threadsafe(self._ready.set)
        for fragment in fragments:
            self._loop.call_soon_threadsafe(self._publish, fragment)

    def _run(self) -> None:
        started = time.monotonic()
        options = {"rtsp_transport": self._transport, "timeout": str(int(IO_TIMEOUT_S * 1_000_000))}
        try:
            with av.open(credential_url(self._url, self._username, self._password), options=options,
                         timeout=(IO_TIMEOUT_S, IO_TIMEOUT_S)) as source:
                video = source.streams.video[0]
                with av.open(_Sink(self._on_bytes), mode="w", format="mp4",
                             options={"movflags": MOVFLAGS, "flush_packets": "1"}) as sink:
                    out = sink.add_stream_from_template(video)
                    waiting_key = True
                    for packet in source.demux(video):
                        if self._stop.is_set():
                            break
                        if packet.dts is None or packet.size == 0:
                            continue
                        if waiting_key and not packet.is_keyframe:
                            continue
                        waiting_key = False
                        packet.stream = out
                        sink.mux(packet)
        except (av.error.FFmpegError, OSError, IndexError) as exc:
            if not self._stop.is_set():
                state, detail = classify(exc, opening=self.splitter.init is None,
                                         elapsed_s=time.monotonic() - started, open_timeout_s=IO_TIMEOUT_S)
                self._loop.call_soon_threadsafe(self._fail, f"{state}: {scrub(detail, self._password)}")
                return
        if not self._stop.is_set():
            self._loop.call_soon_threadsafe(self._fail, "the stream ended")


class LiveService:
    """Hubs by camera; a hub lives while it has viewers."""

    def __init__(self) -> None:
        self.hubs: dict[str, LiveHub] = {}

    async def watch(self, camera: str, url: str, username: str | None, password: str | None,
                    transport: str = "tcp", ready_timeout_s: float = 10.0) -> AsyncIterator[bytes]:
        """Yield the init segment, then fragments, until the viewer stops iterating or the stream fails."""
        hub = self.hubs.get(camera)
        if hub is None or not hub.running or hub.error is not None:
            hub = self.hubs[camera] = LiveHub(camera, url, username, password, transport,
                                              asyncio.get_running_loop())
            hub.start()
        viewer = _Viewer()
        hub.viewers.add(viewer)
        try:
            yield await hub.wait_ready(ready_timeout_s)
            while True:
                fragment = await viewer.queue.get()
                if fragment is None:
                    return
                yield fragment
        finally:
            hub.viewers.discard(viewer)
            if not hub.viewers:
                hub.stop()
                if self.hubs.get(camera) is hub:
                    del self.hubs[camera]

    def close(self) -> None:
        for hub in self.hubs.values():
            hub.stop()
        self.hubs.clear()
