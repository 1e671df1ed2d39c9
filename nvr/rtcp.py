"""RTCP sender reports (RFC 3550 6.4.1): which RTP timestamp a stream had at which NTP time."""

from __future__ import annotations

import struct
from typing import NamedTuple

_SR = struct.Struct(">BBHIQI")
"""V/P/RC, packet type (200), length, SSRC, NTP timestamp (64 bits), RTP timestamp."""


class SenderReport(NamedTuple):
    """A sender report's clock pair: NTP time (64-bit fixed point, seconds << 32) and the RTP timestamp."""

    ntp: int
    rtp: int

    def ntp_ticks(self, rate: int) -> int:
        """The NTP time in ticks of ``rate`` Hz."""
        return self.ntp * rate >> 32


def sender_report(data: bytes | bytearray, start: int, end: int) -> SenderReport | None:
    """The sender report of the compound RTCP packet at ``data[start:end]``, or None if it has none."""
    while start + _SR.size <= end:
        first, kind, length, _ssrc, ntp, rtp = _SR.unpack_from(data, start)
        if first >> 6 != 2:
            return None
        if kind == 200:
            return SenderReport(ntp, rtp)
        start += 4 * (length + 1)
    return None


def signed32(value: int) -> int:
    """A 32-bit difference as a signed number (RTP timestamps wrap)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value
