"""SDP (RFC 4566) as RTSP cameras send it: media sections, rtpmap/fmtp, control URLs, codec parameters."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field

from nvr.media_units import AudioTrack, VideoTrack
from nvr.parameter_sets import describe

log = logging.getLogger(__name__)

_STATIC = {0: ("PCMU", 8000, 1), 8: ("PCMA", 8000, 1)}
"""Static RTP payload types (RFC 3551) that may come without an rtpmap line."""


class SdpError(ValueError):
    """The session description cannot be used (no media, malformed lines)."""


@dataclass
class MediaDescription:
    """One ``m=`` section: its kind, first payload type, rtpmap and fmtp values, and absolute control URL."""

    kind: str
    payload_type: int
    encoding: str = ""
    """rtpmap encoding name, upper case (``H264``, ``H265``, ``MPEG4-GENERIC``, ``PCMA``...)."""
    clock_rate: int = 0
    channels: int = 1
    fmtp: dict[str, str] = field(default_factory=dict)
    """fmtp parameters with lower-case keys."""
    control: str = ""
    framerate: float | None = None


@dataclass
class SessionDescription:
    """A parsed SDP: the media sections and the aggregate control URL (for PLAY)."""

    media: list[MediaDescription]
    control: str


def join_control(base: str, control: str) -> str:
    """Resolve an ``a=control`` value against the base URL the way cameras (and FFmpeg) expect."""
    if not control or control == "*":
        return base
    if "://" in control:
        return control
    if control.startswith("/"):
        scheme, _, rest = base.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}{control}"
    return base + control if base.endswith("/") else f"{base}/{control}"


def parse_sdp(text: str, base: str) -> SessionDescription:
    """Parse ``text``; control URLs are resolved against ``base`` (Content-Base, else the request URL)."""
    session_control = ""
    media: list[MediaDescription] = []
    rtpmaps: list[dict[int, tuple[str, int, int]]] = []
    fmtps: list[dict[int, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            if len(parts) < 4:
                raise SdpError(f"malformed media line {line!r}")
            try:
                pt = int(parts[3])
            except ValueError:
                pt = -1
            media.append(MediaDescription(parts[0].lower(), pt))
            rtpmaps.append({})
            fmtps.append({})
        elif kind == "a":
            name, _, attr = value.partition(":")
            name = name.strip().lower()
            if name == "control":
                if media:
                    media[-1].control = attr.strip()
                else:
                    session_control = attr.strip()
            elif not media:
                continue
            elif name == "rtpmap":
                pt_text, _, spec = attr.strip().partition(" ")
                bits = spec.strip().split("/")
                try:
                    rtpmaps[-1][int(pt_text)] = (bits[0].upper(), int(bits[1]) if len(bits) > 1 else 0,
                                                 int(bits[2]) if len(bits) > 2 and bits[2] else 1)
                except (ValueError, IndexError):
                    log.debug("ignoring malformed rtpmap %r", line)
            elif name == "fmtp":
                pt_text, _, params = attr.strip().partition(" ")
                try:
                    fmtps[-1][int(pt_text)] = params
                except ValueError:
                    log.debug("ignoring malformed fmtp %r", line)
            elif name == "framerate":
                try:
                    media[-1].framerate = float(attr)
                except ValueError:
                    pass
    if not media:
        raise SdpError("the session description has no media")
    for desc, maps, fm in zip(media, rtpmaps, fmtps, strict=True):
        encoding, rate, channels = maps.get(desc.payload_type) or _STATIC.get(desc.payload_type, ("", 0, 1))
        desc.encoding, desc.clock_rate, desc.channels = encoding, rate, channels
        desc.fmtp = _fmtp(fm.get(desc.payload_type, ""))
        desc.control = join_control(base, desc.control)
    return SessionDescription(media, join_control(base, session_control))


def _fmtp(params: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in params.split(";"):
        key, sep, value = item.strip().partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def _b64_nals(value: str) -> list[bytes]:
    nals = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nal = base64.b64decode(part + "=" * (-len(part) % 4))
        except (binascii.Error, ValueError):
            log.debug("ignoring undecodable parameter set %r", part)
            continue
        if nal:
            nals.append(nal)
    return nals


def video_track(desc: MediaDescription) -> VideoTrack | None:
    """The recordable video track of ``desc`` (H.264 or H.265), or None."""
    if desc.kind != "video" or desc.encoding not in ("H264", "H265", "HEVC"):
        return None
    codec = "h264" if desc.encoding == "H264" else "hevc"
    if codec == "h264":
        nals = _b64_nals(desc.fmtp.get("sprop-parameter-sets", ""))
    else:
        nals = [n for key in ("sprop-vps", "sprop-sps", "sprop-pps") for n in _b64_nals(desc.fmtp.get(key, ""))]
    params = describe(codec, tuple(nals)) if nals else None
    rate = desc.clock_rate or 90_000
    frame = round(rate / desc.framerate) if desc.framerate and desc.framerate > 0 else None
    return VideoTrack(codec, desc.payload_type, rate, params, frame)


def audio_track(desc: MediaDescription) -> AudioTrack | None:
    """The recordable audio track of ``desc`` (AAC-hbr, PCMA, PCMU), or None."""
    if desc.kind != "audio":
        return None
    if desc.encoding in ("PCMA", "PCMU"):
        codec = "pcm_alaw" if desc.encoding == "PCMA" else "pcm_mulaw"
        return AudioTrack(codec, desc.payload_type, desc.clock_rate or 8000, desc.channels)
    if desc.encoding == "MPEG4-GENERIC" and desc.fmtp.get("mode", "").lower() == "aac-hbr":
        try:
            config = bytes.fromhex(desc.fmtp.get("config", ""))
            size, index, delta = (int(desc.fmtp.get(k, d)) for k, d in
                                  (("sizelength", 13), ("indexlength", 3), ("indexdeltalength", 3)))
        except ValueError:
            log.info("ignoring AAC track with malformed fmtp %r", desc.fmtp)
            return None
        if not config or not desc.clock_rate:
            return None
        return AudioTrack("aac", desc.payload_type, desc.clock_rate, desc.channels, config, size, index, delta)
    return None
