"""In-band H.264/H.265 parameter sets: find them at the head of a keyframe, read the picture size from the SPS."""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
    width = height = None
    sps = next((n for n in nals if _nal_type(codec, n) == sps_type), None)
    if sps is not None:
        try:
            width, height = hevc_sps_size(sps) if codec == "hevc" else h264_sps_size(sps)
        except (IndexError, ValueError) as exc:
            log.debug("cannot parse %s SPS: %s", codec, exc)
    return ParameterSets(codec, nals, width, height)


class _Bits:
    """Big-endian bit reader over an RBSP (emulation-prevention bytes removed)."""

    def __init__(self, rbsp: bytes) -> None:
        self.value = int.from_bytes(rbsp, "big")
        self.left = len(rbsp) * 8

    def u(self, n: int) -> int:
        if n > self.left:
            raise IndexError("SPS ends early")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


def _rbsp(nal: bytes, header: int) -> bytes:
    return nal[header:].replace(b"\x00\x00\x03", b"\x00\x00")


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + bits.se() + 256) % 256
        last = nxt or last


def h264_sps_size(sps: bytes) -> tuple[int, int]:
    """Cropped (width, height) from an H.264 SPS NAL unit (ITU-T H.264 7.3.2.1.1)."""
    b = _Bits(_rbsp(sps, 1))
    profile = b.u(8)
    b.u(16)  # constraint flags, level_idc
    b.ue()  # seq_parameter_set_id
    chroma = 1
    separate_planes = 0
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma = b.ue()
        if chroma == 3:
            separate_planes = b.u(1)
        b.ue()  # bit_depth_luma_minus8
        b.ue()  # bit_depth_chroma_minus8
        b.u(1)  # qpprime_y_zero_transform_bypass_flag
        if b.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma != 3 else 12):
                if b.u(1):
                    _skip_scaling_list(b, 16 if i < 6 else 64)
    b.ue()  # log2_max_frame_num_minus4
    poc_type = b.ue()
    if poc_type == 0:
        b.ue()
    elif poc_type == 1:
        b.u(1)
        b.se()
        b.se()
        for _ in range(b.ue()):
            b.se()
    b.ue()  # max_num_ref_frames
    b.u(1)  # gaps_in_frame_num_value_allowed_flag
    width = (b.ue() + 1) * 16
    map_units = b.ue() + 1
    frame_mbs_only = b.u(1)
    height = (2 - frame_mbs_only) * map_units * 16
    if not frame_mbs_only:
        b.u(1)  # mb_adaptive_frame_field_flag
    b.u(1)  # direct_8x8_inference_flag
    if b.u(1):  # frame_cropping_flag
        left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
        array_type = 0 if separate_planes else chroma
        crop_x = 1 if array_type in (0, 3) else 2
        crop_y = (2 - frame_mbs_only) * (2 if array_type == 1 else 1)
        width -= (left + right) * crop_x
        height -= (top + bottom) * crop_y
    if width <= 0 or height <= 0:
        raise ValueError(f"implausible picture size {width}x{height}")
    return width, height


def hevc_sps_size(sps: bytes) -> tuple[int, int]:
    """Cropped (width, height) from an H.265 SPS NAL unit (ITU-T H.265 7.3.2.2)."""
    b = _Bits(_rbsp(sps, 2))
    b.u(4)  # sps_video_parameter_set_id
    sub_layers = b.u(3)
    b.u(1)  # sps_temporal_id_nesting_flag
    b.u(32), b.u(32), b.u(32)  # general profile_tier_level: 88 bits of profile, 8 of level
    profile_present, level_present = [], []
    for _ in range(sub_layers):
        profile_present.append(b.u(1))
        level_present.append(b.u(1))
    if sub_layers:
        b.u(2 * (8 - sub_layers))
    for i in range(sub_layers):
        if profile_present[i]:
            b.u(32), b.u(32), b.u(24)
        if level_present[i]:
            b.u(8)
    b.ue()  # sps_seq_parameter_set_id
    chroma = b.ue()
    separate_planes = b.u(1) if chroma == 3 else 0
    width, height = b.ue(), b.ue()
    if b.u(1):  # conformance_window_flag
        left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
        sub_w = 2 if chroma in (1, 2) and not separate_planes else 1
        sub_h = 2 if chroma == 1 and not separate_planes else 1
        width -= sub_w * (left + right)
        height -= sub_h * (top + bottom)
    if width <= 0 or height <= 0:
        raise ValueError(f"implausible picture size {width}x{height}")
    return width, height
