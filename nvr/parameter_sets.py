"""In-band H.264/H.265 parameter sets: find them at the head of a keyframe, read the picture size from the SPS."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nvr.h26x import SpsInfo, parse_h264_sps, parse_hevc_sps

log = logging.getLogger(__name__)

_START = b"\x00\x00\x01"
_SCAN = 4096
"""Bytes of a keyframe searched first for its parameter sets (they precede the first slice)."""

# H.264 NAL unit types (ITU-T H.264 table 7-1) and H.265 ones (ITU-T H.265 table 7-1).
_H264_SPS, _H264_PPS = 7, 8
_H264_PARAMS = frozenset({_H264_SPS, _H264_PPS})
_HEVC_VPS, _HEVC_SPS, _HEVC_PPS = 32, 33, 34
_HEVC_PARAMS = frozenset({_HEVC_VPS, _HEVC_SPS, _HEVC_PPS})


@dataclass(frozen=True, slots=True)
class ParameterSets:
    """The VPS/SPS/PPS NAL units (without start codes) that describe a stream, and its picture size."""

    codec: str
    nals: tuple[bytes, ...]
    width: int | None
    height: int | None
    info: SpsInfo | None = None
    """Everything parsed from the SPS (None if it could not be parsed)."""

    def annexb(self) -> bytes:
        """The NAL units as Annex B extradata (4-byte start codes), which the mp4 muxer converts to avcC/hvcC."""
        return b"".join(b"\x00\x00\x00\x01" + nal for nal in self.nals)


def _nal_type(codec: str, nal: bytes) -> int:
    return (nal[0] >> 1) & 0x3F if codec == "hevc" else nal[0] & 0x1F


def _is_vcl(codec: str, nal_type: int) -> bool:
    return nal_type < 32 if codec == "hevc" else 1 <= nal_type <= 5


def _split(data: bytes) -> list[bytes]:
    """Split Annex B bytes into NAL units (without start codes)."""
    nals: list[bytes] = []
    start = data.find(_START)
    while start >= 0:
        begin = start + 3
        nxt = data.find(_START, begin)
        nal = data[begin:len(data) if nxt < 0 else nxt].rstrip(b"\x00")
        if nal:
            nals.append(nal)
        start = nxt
    return nals


def has_slice(codec: str, data: bytes | memoryview) -> bool:
    """Whether an Annex B access unit holds a coded slice (True for codecs this module does not parse).

    Some encoders send the parameter sets of a keyframe as a packet of their own.
    """
    if codec not in ("h264", "hevc"):
        return True
    buf = bytes(data)
    at = buf.find(_START)
    while 0 <= at < len(buf) - 3:
        if _is_vcl(codec, _nal_type(codec, buf[at + 3:at + 5])):
            return True
        at = buf.find(_START, at + 3)
    return False


def parameter_nals(codec: str, data: bytes | memoryview, window: int = _SCAN) -> tuple[bytes, ...] | None:
    """The parameter-set NAL units that precede the first slice of an Annex B access unit, or None if none.

    Only the first ``window`` bytes are searched unless the first slice starts beyond them.
    """
    if codec not in ("h264", "hevc"):
        return None
    wanted = _HEVC_PARAMS if codec == "hevc" else _H264_PARAMS
    whole = len(data) <= window
    nals = _split(bytes(data if whole else data[:window]))
    found: list[bytes] = []
    for i, nal in enumerate(nals):
        kind = _nal_type(codec, nal)
        if _is_vcl(codec, kind):
            return tuple(found) or None
        if kind in wanted:
            if not whole and i == len(nals) - 1:
                break  # may be cut off by the window
            if nal not in found:  # some encoders repeat them
                found.append(nal)
    if whole:
        return tuple(found) or None
    return parameter_nals(codec, data, len(data))


def from_annexb(codec: str, data: bytes | None) -> ParameterSets | None:
    """Parameter sets from Annex B extradata (what RTSP's sprop-parameter-sets become), or None."""
    if not data or codec not in ("h264", "hevc") or not (data.startswith(_START) or data.startswith(b"\x00" + _START)):
        return None
    wanted = _HEVC_PARAMS if codec == "hevc" else _H264_PARAMS
    nals = tuple(n for n in _split(data) if _nal_type(codec, n) in wanted)
    return describe(codec, nals) if nals else None


def describe(codec: str, nals: tuple[bytes, ...]) -> ParameterSets:
    """Wrap parameter-set NAL units, reading the picture size from the SPS (None if it cannot be parsed)."""
    sps_type = _HEVC_SPS if codec == "hevc" else _H264_SPS
    info = None
    sps = next((n for n in nals if _nal_type(codec, n) == sps_type), None)
    if sps is not None:
        try:
            info = parse_hevc_sps(sps) if codec == "hevc" else parse_h264_sps(sps)
        except (IndexError, ValueError) as exc:
            log.debug("cannot parse %s SPS: %s", codec, exc)
    return ParameterSets(codec, nals, info and info.width, info and info.height, info)


def h264_sps_size(sps: bytes) -> tuple[int, int]:
    """Cropped (width, height) from an H.264 SPS NAL unit (ITU-T H.264 7.3.2.1.1)."""
    info = parse_h264_sps(sps)
    return info.width, info.height


def hevc_sps_size(sps: bytes) -> tuple[int, int]:
    """Cropped (width, height) from an H.265 SPS NAL unit (ITU-T H.265 7.3.2.2)."""
    info = parse_hevc_sps(sps)
    return info.width, info.height
