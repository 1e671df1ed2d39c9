"""H.264/H.265 sequence parameter sets (exp-Golomb parsing) and the avcC/hvcC records built from them."""

from __future__ import annotations

import struct
from dataclasses import dataclass

H264_SPS, H264_PPS = 7, 8
HEVC_VPS, HEVC_SPS, HEVC_PPS = 32, 33, 34
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


@dataclass(frozen=True, slots=True)
class SpsInfo:
    """What a sample entry needs from an SPS: cropped picture size, profile, level, chroma and bit depths.

    For H.265, ``profile_compat`` is the 32 general_profile_compatibility flags
    and ``constraints`` the 48 general constraint-indicator bits; for H.264
    ``profile_compat`` is the constraint_set byte and ``constraints`` is 0.
    """

    width: int
    height: int
    profile_idc: int
    profile_compat: int
    level_idc: int
    chroma_format_idc: int = 1
    bit_depth_luma: int = 8
    bit_depth_chroma: int = 8
    profile_space: int = 0
    tier: int = 0
    constraints: int = 0
    sub_layers: int = 1
    temporal_id_nested: int = 0


class Bits:
    """Big-endian bit reader over an RBSP (emulation-prevention bytes removed)."""

    __slots__ = ("value", "left")

    def __init__(self, rbsp: bytes) -> None:
        self.value = int.from_bytes(rbsp, "big")
        self.left = len(rbsp) * 8

    def u(self, n: int) -> int:
        """``n`` bits as an unsigned integer."""
        if n > self.left:
            raise IndexError("SPS ends early")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def ue(self) -> int:
        """Unsigned exp-Golomb code."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """Signed exp-Golomb code."""
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


def rbsp(nal: bytes, header: int) -> bytes:
    """The NAL unit's payload after its ``header`` bytes, with emulation-prevention bytes removed."""
    return bytes(nal[header:]).replace(b"\x00\x00\x03", b"\x00\x00")


def _skip_scaling_list(bits: Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + bits.se() + 256) % 256
        last = nxt or last


def parse_h264_sps(sps: bytes) -> SpsInfo:
    """Parse an H.264 SPS NAL unit (ITU-T H.264 7.3.2.1.1) up to the frame cropping."""
    b = Bits(rbsp(sps, 1))
    profile, compat, level = b.u(8), b.u(8), b.u(8)
    b.ue()  # seq_parameter_set_id
    chroma, separate_planes, depth_luma, depth_chroma = 1, 0, 8, 8
    if profile in _HIGH_PROFILES:
        chroma = b.ue()
        if chroma == 3:
            separate_planes = b.u(1)
        depth_luma, depth_chroma = b.ue() + 8, b.ue() + 8
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
    return SpsInfo(width, height, profile, compat, level, chroma, depth_luma, depth_chroma)


def parse_hevc_sps(sps: bytes) -> SpsInfo:
    """Parse an H.265 SPS NAL unit (ITU-T H.265 7.3.2.2) up to the bit depths."""
    b = Bits(rbsp(sps, 2))
    b.u(4)  # sps_video_parameter_set_id
    sub_layers = b.u(3)
    nested = b.u(1)
    space, tier, profile = b.u(2), b.u(1), b.u(5)
    compat, constraints, level = b.u(32), b.u(48), b.u(8)
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
    depth_luma, depth_chroma = b.ue() + 8, b.ue() + 8
    return SpsInfo(width, height, profile, compat, level, chroma, depth_luma, depth_chroma, space, tier,
                   constraints, sub_layers + 1, nested)


def h264_nal_type(nal: bytes) -> int:
    """nal_unit_type of an H.264 NAL unit."""
    return nal[0] & 0x1F


def hevc_nal_type(nal: bytes) -> int:
    """nal_unit_type of an H.265 NAL unit."""
    return (nal[0] >> 1) & 0x3F


def avcc_record(nals: tuple[bytes, ...], sps: SpsInfo | None) -> bytes:
    """AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) with 4-byte NAL lengths."""
    spss = [n for n in nals if h264_nal_type(n) == H264_SPS]
    ppss = [n for n in nals if h264_nal_type(n) == H264_PPS]
    if not spss:
        raise ValueError("no H.264 SPS")
    first = spss[0]
    out = bytearray((1, first[1], first[2], first[3], 0xFF, 0xE0 | len(spss)))
    for nal in spss:
        out += struct.pack(">H", len(nal)) + nal
    out.append(len(ppss))
    for nal in ppss:
        out += struct.pack(">H", len(nal)) + nal
    if sps is not None and sps.profile_idc in (100, 110, 122, 144):
        out += bytes((0xFC | sps.chroma_format_idc, 0xF8 | (sps.bit_depth_luma - 8),
                      0xF8 | (sps.bit_depth_chroma - 8), 0))
    return bytes(out)


def hvcc_record(nals: tuple[bytes, ...], sps: SpsInfo) -> bytes:
    """HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) with 4-byte NAL lengths."""
    out = bytearray(struct.pack(">BB", 1, (sps.profile_space << 6) | (sps.tier << 5) | sps.profile_idc))
    out += struct.pack(">I", sps.profile_compat) + sps.constraints.to_bytes(6, "big")
    out += struct.pack(">BHBBBBHB", sps.level_idc, 0xF000, 0xFC, 0xFC | sps.chroma_format_idc,
                       0xF8 | (sps.bit_depth_luma - 8), 0xF8 | (sps.bit_depth_chroma - 8), 0,
                       ((sps.sub_layers & 7) << 3) | (sps.temporal_id_nested << 2) | 3)
    arrays = [(kind, [n for n in nals if hevc_nal_type(n) == kind]) for kind in (HEVC_VPS, HEVC_SPS, HEVC_PPS)]
    arrays = [(kind, found) for kind, found in arrays if found]
    out.append(len(arrays))
    for kind, found in arrays:
        out += struct.pack(">BH", 0x80 | kind, len(found))
        for nal in found:
            out += struct.pack(">H", len(nal)) + nal
    return bytes(out)
