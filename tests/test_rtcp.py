"""RTCP sender reports, as the simulator builds them (and in compound packets)."""

from __future__ import annotations

import struct

from nvr.rtcp import SenderReport, sender_report, signed32
from nvr.sim.rtp import ntp_timestamp, rtcp_sender_report


def test_sender_report_of_a_compound_packet() -> None:
    packet = rtcp_sender_report(0x1234, 1_700_000_000.25, 987_654_321, 10, 1000)
    report = sender_report(packet, 0, len(packet))
    assert report == SenderReport(ntp_timestamp(1_700_000_000.25), 987_654_321)
    assert report.ntp_ticks(90_000) == (1_700_000_000 + 2_208_988_800) * 90_000 + 22_500
    receiver_report = struct.pack(">BBHI", 0x80, 201, 1, 0x99)  # RR without report blocks, then the SR
    framed = b"xx" + receiver_report + packet
    assert sender_report(framed, 2, len(framed)) == report
    assert sender_report(receiver_report, 0, len(receiver_report)) is None
    assert sender_report(b"\x00" * 28, 0, 28) is None


def test_signed32() -> None:
    assert signed32(5 - 3) == 2 and signed32(3 - 5) == -2
    assert signed32(10 - ((1 << 32) - 10)) == 20, "across the wrap"
