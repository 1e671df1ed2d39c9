"""RTP to audio units: AAC (RFC 3640 mpeg4-generic, AAC-hbr) and G.711 (RFC 3551 PCMU/PCMA)."""

from __future__ import annotations

from collections.abc import Callable

from nvr.media_units import AudioTrack, AudioUnit
from nvr.rtp_depacketize import RTP_HEADER, RtpFormatError


class AudioDepacketizer:
    """Audio frames from RTP packets of one track; a lost packet loses only its own frames (counted)."""

    def __init__(self, track: AudioTrack, on_unit: Callable[[AudioUnit], None]) -> None:
        self.track = track
        self.on_unit = on_unit
        self.aac = track.codec == "aac"
        self.packets = 0
        self.lost_packets = 0
        self.ignored_packets = 0
        self._expected = -1
        self._frag: list[bytes | memoryview] = []
        self._frag_size = 0
        self._frag_want = 0
        self._frag_ts = -1
        self._size_bits = track.size_length
        self._first_bits = track.size_length + track.index_length
        self._next_bits = track.size_length + track.index_delta_length
        self._channels = max(1, track.channels)

    def packet(self, data: bytes, view: memoryview, start: int, end: int, recv_us: int) -> None:
        """Handle the RTP packet at ``data[start:end]`` received at ``recv_us``."""
        if end - start < 13:
            raise RtpFormatError("RTP packet too short")
        b0, b1, seq, ts = RTP_HEADER.unpack_from(data, start)
        if b0 & 0xC0 != 0x80:
            raise RtpFormatError("not RTP version 2")
        self.packets += 1
        if b1 & 0x7F != self.track.payload_type:
            self.ignored_packets += 1
            return
        p = start + 12 + 4 * (b0 & 0x0F)
        if b0 & 0x10:
            if p + 4 > end:
                raise RtpFormatError("RTP header extension runs past the packet")
            p += 4 + 4 * ((data[p + 2] << 8) | data[p + 3])
        if b0 & 0x20:
            end -= data[end - 1]
        if seq != self._expected and self._expected >= 0:
            missing = (seq - self._expected) & 0xFFFF
            self.lost_packets += 1 if missing > 0x8000 else missing
            self._frag, self._frag_size = [], 0
        self._expected = (seq + 1) & 0xFFFF
        if p >= end:
            return
        if not self.aac:
            self.on_unit(AudioUnit(ts, recv_us, bytes(view[p:end]), (end - p) // self._channels))
            return
        self._aac(data, view, p, end, ts, recv_us, b1 & 0x80)

    def _aac(self, data: bytes, view: memoryview, p: int, end: int, ts: int, recv_us: int, marker: int) -> None:
        if p + 2 > end:
            raise RtpFormatError("AAC packet without AU headers")
        header_bits = (data[p] << 8) | data[p + 1]
        header_bytes = (header_bits + 7) // 8
        q = p + 2 + header_bytes
        if q > end:
            raise RtpFormatError("AAC AU headers run past the packet")
        headers = int.from_bytes(data[p + 2:q], "big")
        left = header_bytes * 8
        sizes = []
        width = self._first_bits
        used = 0
        while used + width <= header_bits:
            shift = left - used - width
            sizes.append((headers >> (shift + width - self._size_bits)) & ((1 << self._size_bits) - 1))
            used += width
            width = self._next_bits
        if self._frag_want:  # continuing a fragmented frame
            if ts != self._frag_ts or len(sizes) != 1:
                self._frag, self._frag_size, self._frag_want = [], 0, 0
            else:
                self._frag.append(view[q:end])
                self._frag_size += end - q
                if marker or self._frag_size >= self._frag_want:
                    if self._frag_size == self._frag_want:
                        self.on_unit(AudioUnit(ts, recv_us, b"".join(self._frag), 1024))
                    self._frag, self._frag_size, self._frag_want = [], 0, 0
                return
        for i, size in enumerate(sizes):
            if q + size > end:
                if len(sizes) == 1 and not marker:  # one frame split over several packets
                    self._frag, self._frag_size, self._frag_want, self._frag_ts = [view[q:end]], end - q, size, ts
                return
            self.on_unit(AudioUnit((ts + i * 1024) & 0xFFFFFFFF, recv_us, bytes(view[q:q + size]), 1024))
            q += size
