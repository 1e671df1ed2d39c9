"""Real RTP packets captured from real servers (the simulator, GStreamer) for the depacketizer tests."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from nvr.rtsp_client import RtspClient, SessionMedia


@dataclass
class Captured:
    """What one session sent: its tracks (from DESCRIBE) and the RTP packets of each, in arrival order."""

    media: SessionMedia
    video: list[bytes] = field(default_factory=list)
    audio: list[bytes] = field(default_factory=list)


async def capture(url: str, seconds: float, username: str | None = None, password: str | None = None) -> Captured:
    """PLAY ``url`` for ``seconds`` and keep copies of every RTP packet."""
    client = RtspClient(url, username, password)
    media = await client.open()
    got = Captured(media)
    await client.setup(media.video_control, lambda d, v, s, e, r: got.video.append(bytes(v[s:e])))
    if media.audio_control is not None:
        await client.setup(media.audio_control, lambda d, v, s, e, r: got.audio.append(bytes(v[s:e])))
    await client.play(media.play_url)
    await asyncio.sleep(seconds)
    await client.teardown(media.play_url)
    return got


def feed(depacketizer: object, packets: list[bytes], recv_us: int | None = None) -> None:
    """Hand ``packets`` to a depacketizer one by one (each as its own buffer)."""
    now = recv_us if recv_us is not None else time.time_ns() // 1000
    for packet in packets:
        depacketizer.packet(packet, memoryview(packet), 0, len(packet), now)  # type: ignore[attr-defined]
