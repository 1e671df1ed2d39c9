"""Small H.264 bitstream helpers: Annex B splitting, NAL types, SDP parameters."""

from __future__ import annotations

import base64
import re

NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
NAL_FILLER = 12
NAL_STAP_A = 24
NAL_FU_A = 28

_START_CODE = re.compile(b"\x00\x00\x01")


def nal_type(nal: bytes) -> int:
    """Return the nal_unit_type of a NAL unit (without start code)."""
    return nal[0] & 0x1F


def split_annexb(data: bytes) -> list[bytes]:
    """Split an Annex B byte stream into NAL units without start codes."""
    starts = [m.end() for m in _START_CODE.finditer(data)]
    nals = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        nal = data[start:end].rstrip(b"\x00")
        if nal:
            nals.append(nal)
    return nals


def profile_level_id(sps: bytes) -> str:
    """The ``profile-level-id`` SDP parameter (profile_idc, constraints, level_idc in hex)."""
    if len(sps) < 4 or nal_type(sps) != NAL_SPS:
        raise ValueError("not an SPS NAL unit")
    return sps[1:4].hex().upper()


def sprop_parameter_sets(sps: bytes, pps: bytes) -> str:
    """The ``sprop-parameter-sets`` SDP parameter: base64 SPS and PPS, comma separated."""
    return ",".join(base64.b64encode(n).decode("ascii") for n in (sps, pps))


def decode_sprop_parameter_sets(value: str) -> list[bytes]:
    """Inverse of :func:`sprop_parameter_sets`."""
    return [base64.b64decode(part) for part in value.split(",") if part]
