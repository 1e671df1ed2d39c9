"""RTP/RTCP packet building: RFC 6184 H.264 payloads, RTP headers, sender reports, interleaving."""

from __future__ import annotations

import struct
import threading

from nvr.sim.clip import AccessUnit, Clip
from nvr.sim.h264 import NAL_FU_A

RTP_VERSION = 2
PAYLOAD_TYPE = 96
CLOCK_RATE = 90000
DEFAULT_MAX_PAYLOAD = 1400
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01

_HEADER = struct.Struct("!BBHII")
_INTERLEAVED = struct.Struct("!cBH")


def packetize_nal(nal: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> list[bytes]:
    """Payloads for one NAL unit: a single NAL unit packet, or FU-A fragments if it is too big."""
    if len(nal) <= max_payload:
        return [nal]
    header = nal[0]
    indicator = bytes([(header & 0xE0) | NAL_FU_A])
    nal_type = header & 0x1F
    body = memoryview(nal)[1:]
    chunk = max_payload - 2
    out = []
    for offset in range(0, len(body), chunk):
        start = 0x80 if offset == 0 else 0
        end = 0x40 if offset + chunk >= len(body) else 0
        out.append(indicator + bytes([start | end | nal_type]) + body[offset : offset + chunk])
    return out


def packetize_access_unit(au: AccessUnit, max_payload: int = DEFAULT_MAX_PAYLOAD) -> tuple[bytes, ...]:
    """RTP payloads for one access unit, in sending order (the last one gets the marker bit)."""
    return tuple(p for nal in au.nals for p in packetize_nal(nal, max_payload))


_clip_payloads: dict[tuple[int, int], tuple[Clip, tuple[tuple[bytes, ...], ...]]] = {}
_clip_payloads_lock = threading.Lock()


def packetize_clip(clip: Clip, max_payload: int = DEFAULT_MAX_PAYLOAD) -> tuple[tuple[bytes, ...], ...]:
    """Payloads for every frame of ``clip``; computed once per clip and shared by all sessions."""
    key = (id(clip), max_payload)
    with _clip_payloads_lock:
        hit = _clip_payloads.get(key)
        if hit is not None and hit[0] is clip:
            return hit[1]
        payloads = tuple(packetize_access_unit(au, max_payload) for au in clip.frames)
        _clip_payloads[key] = (clip, payloads)
        return payloads


def rtp_packets(
    payloads: tuple[bytes, ...], seq: int, timestamp: int, ssrc: int, payload_type: int = PAYLOAD_TYPE
) -> list[bytes]:
    """Full RTP packets for one access unit starting at sequence number ``seq``."""
    last = len(payloads) - 1
    ts = timestamp & 0xFFFFFFFF
    return [
        _HEADER.pack(0x80, (0x80 if i == last else 0) | payload_type, (seq + i) & 0xFFFF, ts, ssrc) + p
        for i, p in enumerate(payloads)
    ]


def interleave(channel: int, packet: bytes) -> bytes:
    """RTSP interleaved framing (RFC 2326 10.12): ``$``, channel, 16-bit length, data."""
    return _INTERLEAVED.pack(b"$", channel, len(packet)) + packet


def ntp_timestamp(unix_time: float) -> int:
    """64-bit NTP timestamp for a Unix time."""
    seconds = int(unix_time)
    fraction = int((unix_time - seconds) * (1 << 32)) & 0xFFFFFFFF
    return ((seconds + NTP_EPOCH_OFFSET) << 32) | fraction


def rtcp_sender_report(
    ssrc: int, unix_time: float, rtp_timestamp: int, packet_count: int, octet_count: int, cname: str = "nvr-sim"
) -> bytes:
    """A compound RTCP packet: sender report (no report blocks) followed by SDES CNAME."""
    ntp = ntp_timestamp(unix_time)
    sr = struct.pack(
        "!BBHIIIIII",
        0x80,
        200,
        6,
        ssrc,
        ntp >> 32,
        ntp & 0xFFFFFFFF,
        rtp_timestamp & 0xFFFFFFFF,
        packet_count & 0xFFFFFFFF,
        octet_count & 0xFFFFFFFF,
    )
    name = cname.encode()[:255]
    chunk = struct.pack("!IBB", ssrc, 1, len(name)) + name + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)
    sdes = struct.pack("!BBH", 0x81, 202, len(chunk) // 4) + chunk
    return sr + sdes


def parse_rtp_header(packet: bytes) -> dict[str, int]:
    """Decode the fixed RTP header (for tests and diagnostics)."""
    if len(packet) < 12:
        raise ValueError("RTP packet shorter than its header")
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(packet)
    return {"version": b0 >> 6, "marker": b1 >> 7, "payload_type": b1 & 0x7F, "seq": seq, "timestamp": ts, "ssrc": ssrc}
