"""SDP session descriptions (RFC 4566) for the simulated H.264 streams."""

from __future__ import annotations

from nvr.sim.clip import Clip
from nvr.sim.rtp import CLOCK_RATE, PAYLOAD_TYPE

TRACK_CONTROL = "trackID=0"


def build_sdp(clip: Clip, title: str, session_id: int, host: str = "127.0.0.1") -> str:
    """SDP for one H.264 video track with packetization-mode=1 and in-band-capable parameter sets."""
    kbps = max(1, round(clip.bitrate / 1000))
    lines = [
        "v=0",
        f"o=- {session_id} 1 IN IP4 {host}",
        f"s={title}",
        "i=nvr simulated camera",
        f"c=IN IP4 {host}",
        "t=0 0",
        "a=tool:nvr-sim",
        "a=range:npt=0-",
        "a=control:*",
        f"m=video 0 RTP/AVP {PAYLOAD_TYPE}",
        f"b=AS:{kbps}",
        f"a=rtpmap:{PAYLOAD_TYPE} H264/{CLOCK_RATE}",
        f"a=fmtp:{PAYLOAD_TYPE} packetization-mode=1;profile-level-id={clip.profile_level_id};"
        f"sprop-parameter-sets={clip.sprop_parameter_sets}",
        f"a=framerate:{clip.fps}",
        f"a=x-dimensions:{clip.width},{clip.height}",
        "a=recvonly",
        f"a=control:{TRACK_CONTROL}",
    ]
    return "\r\n".join(lines) + "\r\n"
