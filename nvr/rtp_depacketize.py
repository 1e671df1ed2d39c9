"""RTP to video access units: H.264 (RFC 6184) and H.265 (RFC 7798), with loss detection.

One ``VideoDepacketizer`` per video track. ``packet(data, view, start, end,
recv_us)`` takes one RTP packet that lies at ``data[start:end]`` (``view`` is
``memoryview(data)``, so payload slices are not copied until the access unit
is joined); complete access units go to ``on_unit``. A picture ends at the
RTP marker bit, or when the timestamp changes. A sequence-number gap drops the
picture being assembled and every later one up to the next keyframe (counted
in ``lost_packets`` and ``dropped_units``), so no corrupt picture is written.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable

from nvr.media_units import AccessUnit
from nvr.rtsp_errors import RtspProtocolError

log = logging.getLogger(__name__)

RTP_HEADER = struct.Struct(">BBHI")
"""First 8 bytes of an RTP header: V/P/X/CC, M/PT, sequence number, timestamp."""

_H264_SKIP = frozenset({9, 12})  # access unit delimiter, filler
_H264_PARAMS = frozenset({7, 8})
_HEVC_SKIP = frozenset({35, 38})  # access unit delimiter, filler
_HEVC_PARAMS = frozenset({32, 33, 34})
CARRY_MAX = 1 << 16
"""Bytes of non-picture NAL units (parameter sets, SEI) held for the next picture; beyond this they are dropped."""


class RtpFormatError(RtspProtocolError):
    """Bytes that are not an RTP version 2 packet."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"bad RTP data from the camera: {detail}")


class VideoDepacketizer:
    """Reassembles H.264 or H.265 access units from RTP packets of one SSRC, in order."""

    def __init__(self, codec: str, on_unit: Callable[[AccessUnit], None], payload_type: int | None = None) -> None:
        if codec not in ("h264", "hevc"):
            raise ValueError(f"unsupported video codec {codec!r}")
        self.hevc = codec == "hevc"
        self.on_unit = on_unit
        self.payload_type = payload_type
        self.packets = 0
        self.lost_packets = 0
        """Packets missing by sequence number."""
        self.dropped_units = 0
        """Pictures not delivered because of a loss (the damaged one and those up to the next keyframe)."""
        self.ignored_packets = 0
        """Packets of a kind this depacketizer does not handle (STAP-B, MTAP, PACI, other payload types)."""
        self._expected = -1
        self._ts = -1
        self._recv_us = 0
        self._parts: list[bytes | memoryview] = []
        self._params: list[bytes] | None = None
        self._key = False
        self._vcl = False
        self._fu_at = -1
        """-1: no fragmented NAL unit open; -2: one set aside (a parameter set); else its length's index."""
        self._fu_len = 0
        self._fu_aside: list[bytes | memoryview] = []
        self._fu_kind = 0
        self._broken = False
        self._wait_key = False
        self._after_loss = False
        self._carry: list[bytes | memoryview] = []
        self._carry_params: list[bytes] | None = None

    # ------------------------------------------------------------------ per packet
    def packet(self, data: bytes, view: memoryview, start: int, end: int, recv_us: int) -> None:
        """Handle the RTP packet at ``data[start:end]`` received at ``recv_us``.

        The hot path (a plain header, in sequence, an H.264 FU-A fragment) is
        written out inline: it runs ~200 times a second per camera.
        """
        if end - start < 13:
            raise RtpFormatError("RTP packet too short")
        b0, b1, seq, ts = RTP_HEADER.unpack_from(data, start)
        self.packets += 1
        if b0 == 0x80:  # version 2, no padding, no extension, no CSRC
            p = start + 12
        else:
            if b0 & 0xC0 != 0x80:
                raise RtpFormatError("not RTP version 2")
            p = start + 12 + 4 * (b0 & 0x0F)
            if b0 & 0x10:  # header extension
                if p + 4 > end:
                    raise RtpFormatError("RTP header extension runs past the packet")
                p += 4 + 4 * ((data[p + 2] << 8) | data[p + 3])
            if b0 & 0x20:  # padding
                end -= data[end - 1]
            if p >= end:
                return  # empty payload (padding only): nothing to assemble
        if b1 & 0x7F != self.payload_type and self.payload_type is not None:
            self.ignored_packets += 1
            return
        expected = self._expected
        lost = False
        if seq != expected:
            if expected >= 0:
                lost = True
                self._loss((seq - expected) & 0xFFFF)
        self._expected = (seq + 1) & 0xFFFF
        if ts != self._ts:
            if self._parts or self._params or self._broken:
                self._finish()  # the previous picture ended without a marker bit
            self._ts = ts
        if lost:  # the missing packets belong to the picture in progress or to the start of this one
            self._broken = True
        self._recv_us = recv_us
        if self.hevc:
            self._hevc(data, view, p, end)
        elif data[p] & 0x1F == 28:  # FU-A, inline
            fu = data[p + 1]
            if fu & 0x80:
                inner = fu & 0x1F
                self._fu_start(inner, bytes(((data[p] & 0xE0) | inner,)))
            at = self._fu_at
            if at >= 0:
                self._parts.append(view[p + 2:end])
                self._fu_len += end - p - 2
                if fu & 0x40:
                    self._parts[at] = self._fu_len.to_bytes(4, "big")
                    self._fu_at = -1
            else:
                self._fu_body(view, p + 2, end, fu & 0x40)
        else:
            self._h264(data, view, p, end)
        if b1 & 0x80:
            self._finish()

    def _h264(self, data: bytes, view: memoryview, p: int, end: int) -> None:
        kind = data[p] & 0x1F
        if kind < 24:
            self._nal(kind, data, view, p, end)
        elif kind == 28:  # FU-A
            fu = data[p + 1]
            inner = fu & 0x1F
            if fu & 0x80:
                self._fu_start(inner, bytes(((data[p] & 0xE0) | inner,)))
            self._fu_body(view, p + 2, end, fu & 0x40)
        elif kind == 24:  # STAP-A
            q = p + 1
            while q + 2 < end:
                size = (data[q] << 8) | data[q + 1]
                q += 2
                if size == 0 or q + size > end:
                    self._broken = True
                    break
                self._nal(data[q] & 0x1F, data, view, q, q + size)
                q += size
        else:
            self.ignored_packets += 1

    def _hevc(self, data: bytes, view: memoryview, p: int, end: int) -> None:
        kind = (data[p] >> 1) & 0x3F
        if kind < 48:
            self._nal(kind, data, view, p, end)
        elif kind == 49:  # FU
            fu = data[p + 2]
            inner = fu & 0x3F
            if fu & 0x80:
                self._fu_start(inner, bytes(((data[p] & 0x81) | (inner << 1), data[p + 1])))
            self._fu_body(view, p + 3, end, fu & 0x40)
        elif kind == 48:  # aggregation packet (no DONL: sprop-max-don-diff is 0 for cameras)
            q = p + 2
            while q + 2 < end:
                size = (data[q] << 8) | data[q + 1]
                q += 2
                if size == 0 or q + size > end:
                    self._broken = True
                    break
                self._nal((data[q] >> 1) & 0x3F, data, view, q, q + size)
                q += size
        else:
            self.ignored_packets += 1

    def _nal(self, kind: int, data: bytes, view: memoryview, start: int, end: int) -> None:
        if self._fu_at != -1:  # a fragmented NAL unit never got its end: damaged
            self._broken = True
            self._fu_at = -1
        if self.hevc:
            if kind in _HEVC_PARAMS:
                self._param(bytes(view[start:end]))
                return
            if kind in _HEVC_SKIP:
                return
            if kind < 32:
                self._vcl = True
                if 16 <= kind <= 23:
                    self._key = True
        else:
            if kind in _H264_PARAMS:
                self._param(bytes(view[start:end]))
                return
            if kind in _H264_SKIP or kind == 0:
                return
            if kind <= 5:
                self._vcl = True
                if kind == 5:
                    self._key = True
        parts = self._parts
        parts.append((end - start).to_bytes(4, "big"))
        parts.append(view[start:end])

    def _param(self, nal: bytes) -> None:
        if self._params is None:
            self._params = [nal]
        elif nal not in self._params:  # some encoders repeat them
            self._params.append(nal)

    def _fu_start(self, kind: int, header: bytes) -> None:
        if self._fu_at != -1:
            self._broken = True
            self._fu_at = -1
        if self.hevc:
            if kind in _HEVC_PARAMS or kind in _HEVC_SKIP:
                self._fu_at = -2  # a parameter set this long is odd: reassemble it apart
            elif kind < 32:
                self._vcl = True
                if 16 <= kind <= 23:
                    self._key = True
        else:
            if kind in _H264_PARAMS or kind in _H264_SKIP:
                self._fu_at = -2
            elif kind <= 5:
                self._vcl = True
                if kind == 5:
                    self._key = True
        if self._fu_at == -2:
            self._fu_aside = [header]
            self._fu_kind = kind
            self._fu_len = len(header)
            return
        self._parts.append(b"")
        self._fu_at = len(self._parts) - 1
        self._parts.append(header)
        self._fu_len = len(header)

    def _fu_body(self, view: memoryview, start: int, end: int, last: int) -> None:
        at = self._fu_at
        if at == -1:  # a middle or end fragment whose start we did not see
            self._broken = True
            return
        if at == -2:
            self._fu_aside.append(view[start:end])
            if last:
                nal = b"".join(self._fu_aside)
                self._fu_at, self._fu_aside = -1, []
                if self._fu_kind in _HEVC_PARAMS or self._fu_kind in _H264_PARAMS:
                    self._param(nal)
            return
        self._parts.append(view[start:end])
        self._fu_len += end - start
        if last:
            self._parts[at] = self._fu_len.to_bytes(4, "big")
            self._fu_at = -1

    # ------------------------------------------------------------------ per picture
    def _loss(self, missing: int) -> None:
        if missing > 0x8000:  # a late (reordered) packet: its picture is gone already
            missing = 1
        self.lost_packets += missing
        self._wait_key = True
        self._after_loss = True
        if self._parts or self._params:
            self._broken = True

    def _finish(self) -> None:
        parts, params, key, vcl = self._parts, self._params, self._key, self._vcl
        broken = self._broken or self._fu_at != -1
        self._parts, self._params, self._key, self._vcl, self._broken, self._fu_at = [], None, False, False, False, -1
        if broken:
            self._wait_key = True
            self._carry, self._carry_params = [], None
            if parts or params:
                self.dropped_units += 1
            return
        if not vcl:
            # Parameter sets or SEI sent as a unit of their own (e.g. GStreamer's config-interval with some
            # payloaders): they belong to the next picture. Counted as a frame they would read as a zero
            # timestamp step and push media time ahead by a frame per GOP.
            if parts or params:
                carried = self._carry + parts
                if sum(map(len, carried)) > CARRY_MAX:
                    carried = []
                self._carry = carried
                self._carry_params = _merge(self._carry_params, params)
            return
        if self._carry or self._carry_params:
            parts = self._carry + parts
            params = _merge(self._carry_params, params)
            self._carry, self._carry_params = [], None
        if self._wait_key:
            if not key:  # a picture that refers to what was lost
                self.dropped_units += 1
                return
            self._wait_key = False
        after_loss, self._after_loss = self._after_loss, False
        self.on_unit(AccessUnit(self._ts, self._recv_us, key, b"".join(parts), tuple(params) if params else None,
                                after_loss))


def _merge(first: list[bytes] | None, then: list[bytes] | None) -> list[bytes] | None:
    if not first:
        return then
    if not then:
        return first
    return first + [nal for nal in then if nal not in first]
