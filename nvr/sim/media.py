"""Real-time RTP sending for one session: pacing, looping, RTCP, slow-client policy and media faults."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from nvr.sim.clip import Clip
from nvr.sim.faults import JUMP_MIN_PLAY_S, Faults
from nvr.sim.rtp import CLOCK_RATE, DEFAULT_MAX_PAYLOAD, interleave, packetize_clip, rtcp_sender_report, rtp_packets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSettings:
    """Tuning knobs shared by all sessions of a server."""

    max_backlog: int = 2 * 1024 * 1024  # bytes queued in user space before frames are dropped
    slow_client_timeout: float = 5.0  # seconds of continuous backlog before the client is cut off
    rtcp_interval: float = 1.0  # seconds between RTCP sender reports
    max_lag: float = 1.0  # seconds behind schedule before skipping ahead to "now"
    max_payload: int = DEFAULT_MAX_PAYLOAD  # RTP payload bytes before FU-A fragmentation
    send_buffer: int | None = None  # SO_SNDBUF for RTSP/TCP connections (None: OS autotuning)


@dataclass(frozen=True)
class MediaSource:
    """A clip with its RTP payloads precomputed; shared read-only by every session."""

    clip: Clip
    payloads: tuple[tuple[bytes, ...], ...]

    @classmethod
    def from_clip(cls, clip: Clip, max_payload: int = DEFAULT_MAX_PAYLOAD) -> MediaSource:
        """Wrap ``clip`` (payloads are cached per clip, so this is cheap after the first call)."""
        return cls(clip, packetize_clip(clip, max_payload))


class MediaSink(Protocol):
    """Where a session's packets go (TCP interleaved or UDP)."""

    def send_rtp(self, packets: list[bytes]) -> None:
        """Send the RTP packets of one access unit."""

    def send_rtcp(self, packet: bytes) -> None:
        """Send one compound RTCP packet."""

    def send_raw(self, data: bytes) -> None:
        """Send bytes outside any framing (the ``garbage`` fault)."""

    def backlog(self) -> int:
        """Bytes queued in user space and not yet accepted by the kernel."""

    @property
    def closed(self) -> bool:
        """True once the underlying connection or socket is closing."""


class TcpInterleavedSink:
    """Sends RTP/RTCP ``$``-interleaved on the RTSP connection (RTP/AVP/TCP)."""

    def __init__(self, writer: asyncio.StreamWriter, rtp_channel: int, rtcp_channel: int) -> None:
        self._writer = writer
        self.rtp_channel = rtp_channel
        self.rtcp_channel = rtcp_channel

    def send_rtp(self, packets: list[bytes]) -> None:
        """Write all packets of a frame in one call (one syscall, never interleaved with a response)."""
        self._writer.write(b"".join(interleave(self.rtp_channel, p) for p in packets))

    def send_rtcp(self, packet: bytes) -> None:
        """Write an RTCP packet on the RTCP channel."""
        self._writer.write(interleave(self.rtcp_channel, packet))

    def send_raw(self, data: bytes) -> None:
        """Write unframed bytes."""
        self._writer.write(data)

    def backlog(self) -> int:
        """User-space write buffer of the connection."""
        return self._writer.transport.get_write_buffer_size()

    @property
    def closed(self) -> bool:
        """True once the RTSP connection is closing."""
        return self._writer.transport.is_closing()


class UdpSink:
    """Sends RTP/RTCP as UDP datagrams to the client's port pair on loopback (RTP/AVP)."""

    def __init__(
        self,
        rtp: asyncio.DatagramTransport,
        rtcp: asyncio.DatagramTransport,
        rtp_addr: tuple[str, int],
        rtcp_addr: tuple[str, int],
    ) -> None:
        self._rtp, self._rtcp = rtp, rtcp
        self.rtp_addr, self.rtcp_addr = rtp_addr, rtcp_addr

    def send_rtp(self, packets: list[bytes]) -> None:
        """One datagram per packet."""
        for p in packets:
            self._rtp.sendto(p, self.rtp_addr)

    def send_rtcp(self, packet: bytes) -> None:
        """Send to the client's RTCP port."""
        self._rtcp.sendto(packet, self.rtcp_addr)

    def send_raw(self, data: bytes) -> None:
        """A datagram that is not RTP version 2."""
        self._rtp.sendto(data, self.rtp_addr)

    def backlog(self) -> int:
        """User-space buffer of the shared RTP socket."""
        return self._rtp.get_write_buffer_size()

    @property
    def closed(self) -> bool:
        """True once the server's UDP sockets are closing."""
        return self._rtp.is_closing() or self._rtcp.is_closing()


def garbage_bytes() -> bytes:
    """Bytes that are neither ``$``-framed, nor an RTSP message, nor RTP version 2."""
    return b"\xffGARBAGE\x00" + os.urandom(random.randint(32, 256))


class RtpStreamer:
    """Streams a looping clip in real time to one sink, honouring the camera's faults live.

    Frame ``k`` (counted across loops) is due at ``start + k / fps`` on the
    monotonic clock and carries RTP timestamp ``base + k * 90000 / fps`` (plus
    any injected jump), so there is no drift and timestamps keep increasing
    across loops, stalls and pauses.
    """

    def __init__(
        self,
        primary: MediaSource,
        alternate: MediaSource | None,
        faults: Faults,
        sink: MediaSink,
        on_drop: Callable[[str, bool], None],
        settings: StreamSettings = StreamSettings(),
        cname: str = "nvr-sim",
    ) -> None:
        self.primary, self.alternate = primary, alternate
        self.faults = faults
        self.sink = sink
        self.settings = settings
        self.cname = cname
        self._on_drop = on_drop
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts_base = random.getrandbits(32)
        self.packets_sent = 0
        self.octets_sent = 0
        self.frames_sent = 0
        self.frames_dropped = 0
        self._fps = primary.clip.fps
        self._current = primary
        self._pending: MediaSource | None = None
        self._k = 0
        self._ts_offset = 0
        self._start: float | None = None
        self._play_time = 0.0
        self._need_key = False
        self._jump_seen = faults.jump_generation if faults.jump_already_applied else 0
        self._task: asyncio.Task[None] | None = None

    @property
    def playing(self) -> bool:
        """Whether the sending task is running."""
        return self._task is not None and not self._task.done()

    @property
    def current_clip(self) -> Clip:
        """The clip being sent now (changes with the ``resolution_change`` fault)."""
        return self._current.clip

    def next_rtp_time(self) -> int:
        """RTP timestamp of the next frame due (for RTP-Info; call right after :meth:`play`)."""
        return self._timestamp(self._k)

    def play(self) -> None:
        """Start sending, or resume after :meth:`pause` (from the next keyframe, on the live timeline)."""
        if self.playing:
            return
        now = asyncio.get_running_loop().time()
        if self._start is None:
            self._start = now
            self._k = 0
        else:
            self._k = self._resume_frame(now)
            self._need_key = True
        self._play_time = now
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"rtp-{self.ssrc:08x}")

    async def pause(self) -> None:
        """Stop sending, keeping sequence numbers and the timeline."""
        await self.stop()

    async def stop(self) -> None:
        """Cancel the sending task and wait for it."""
        task, self._task = self._task, None
        if task is None or task is asyncio.current_task():
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    # ------------------------------------------------------------------ internals
    def _resume_frame(self, now: float) -> int:
        assert self._start is not None
        return max(self._k, math.ceil((now - self._start) * self._fps))

    def _timestamp(self, k: int) -> int:
        return (self.ts_base + self._ts_offset + round(k * CLOCK_RATE / self._fps)) & 0xFFFFFFFF

    def _drop(self, reason: str, abort: bool) -> None:
        self._task = None
        self._on_drop(reason, abort)

    def _apply_faults(self, now: float) -> None:
        f = self.faults
        generation = f.jump_generation
        if f.timestamp_jump is not None and generation != self._jump_seen and now - self._play_time >= JUMP_MIN_PLAY_S:
            self._ts_offset += round(f.timestamp_jump * CLOCK_RATE)
            self._jump_seen = generation
            f.mark_jump_applied(generation)
            log.info("ssrc %08x: RTP timestamps jump by %.3f s", self.ssrc, f.timestamp_jump)
        if self.alternate is not None:
            desired = self.alternate if f.resolution_change else self.primary
            self._pending = None if desired is self._current else desired

    def _send_report(self, now: float) -> None:
        assert self._start is not None
        rtp_now = self.ts_base + self._ts_offset + round((now - self._start) * CLOCK_RATE)
        self.sink.send_rtcp(
            rtcp_sender_report(self.ssrc, time.time(), rtp_now, self.packets_sent, self.octets_sent, self.cname)
        )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self.settings
        next_report = 0.0
        backlog_since: float | None = None
        assert self._start is not None
        try:
            while True:
                due = self._start + self._k / self._fps
                now = loop.time()
                if due > now:
                    await asyncio.sleep(due - now)
                    now = loop.time()
                elif now - due > settings.max_lag:
                    log.warning("ssrc %08x: %.2f s behind schedule, skipping ahead", self.ssrc, now - due)
                    self._k = math.floor((now - self._start) * self._fps)
                    self._need_key = True
                if self.sink.closed:
                    self._drop("connection closed", False)
                    return
                faults = self.faults
                if faults.drop_after is not None and now - self._play_time >= faults.drop_after:
                    self._drop("drop_after fault", False)
                    return
                if faults.stall:
                    self._need_key = True
                    self._k += 1
                    continue
                self._apply_faults(now)
                index = self._k % len(self._current.payloads)
                if self._pending is not None and self._pending.clip.frames[index].keyframe:
                    self._current, self._pending = self._pending, None
                    log.info(
                        "ssrc %08x: switched to %dx%d", self.ssrc, self._current.clip.width, self._current.clip.height
                    )
                keyframe = self._current.clip.frames[index].keyframe
                if self._need_key and not keyframe:
                    self._k += 1
                    continue
                if self.sink.backlog() > settings.max_backlog:
                    backlog_since = backlog_since if backlog_since is not None else now
                    if now - backlog_since > settings.slow_client_timeout:
                        self._drop("slow client", True)
                        return
                    self.frames_dropped += 1
                    self._need_key = True
                    self._k += 1
                    continue
                backlog_since = None
                self._need_key = False
                if now >= next_report:
                    self._send_report(now)
                    next_report = now + settings.rtcp_interval
                if faults.garbage:
                    self.sink.send_raw(garbage_bytes())
                packets = rtp_packets(self._current.payloads[index], self.seq, self._timestamp(self._k), self.ssrc)
                self.sink.send_rtp(packets)
                self.seq = (self.seq + len(packets)) & 0xFFFF
                self.packets_sent += len(packets)
                self.octets_sent += sum(len(p) for p in packets) - 12 * len(packets)
                self.frames_sent += 1
                self._k += 1
        except OSError as exc:
            self._drop(f"send failed: {exc}", True)
