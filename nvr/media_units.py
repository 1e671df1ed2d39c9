"""What the RTSP ingest hands the recorder: tracks (from the SDP) and access units (from RTP)."""

from __future__ import annotations

from dataclasses import dataclass

from nvr.parameter_sets import ParameterSets

VIDEO_CODECS = ("h264", "hevc")
AUDIO_CODECS = ("aac", "pcm_alaw", "pcm_mulaw")


@dataclass(frozen=True, slots=True)
class VideoTrack:
    """The video track of a session: codec (``h264``/``hevc``), RTP clock and out-of-band parameter sets."""

    codec: str
    payload_type: int
    clock_rate: int = 90_000
    params: ParameterSets | None = None
    """From ``sprop-parameter-sets`` (or ``sprop-vps/sps/pps``); in-band ones replace them."""
    frame_duration: int | None = None
    """Nominal frame interval in clock units (from ``a=framerate``), if the SDP says."""


@dataclass(frozen=True, slots=True)
class AudioTrack:
    """The audio track of a session: codec (``aac``, ``pcm_alaw``, ``pcm_mulaw``), rates and AAC config."""

    codec: str
    payload_type: int
    clock_rate: int
    channels: int = 1
    config: bytes = b""
    """AAC AudioSpecificConfig (``config=`` in the fmtp line)."""
    size_length: int = 13
    index_length: int = 3
    index_delta_length: int = 3

    @property
    def samples_per_frame(self) -> int | None:
        """Samples in one AAC frame (1024), None for G.711 (a packet holds any number of samples)."""
        return 1024 if self.codec == "aac" else None


class AccessUnit:
    """One video picture: its NAL units as an MP4 sample (4-byte lengths) and the parameter sets it carried.

    ``data`` holds the picture's slices and SEI (parameter sets and access unit
    delimiters are left out); ``params`` the VPS/SPS/PPS NAL units that came
    with it, in order, or None. ``key`` is set for IDR/IRAP pictures. ``ts`` is
    the 32-bit RTP timestamp, ``recv_us`` the wall time (UTC µs) the last of
    its packets arrived. ``after_loss`` is set on the first picture after RTP
    packets went missing (the pictures they damaged were dropped before it).
    """

    __slots__ = ("ts", "recv_us", "key", "data", "params", "after_loss")

    def __init__(self, ts: int, recv_us: int, key: bool, data: bytes, params: tuple[bytes, ...] | None,
                 after_loss: bool = False) -> None:
        self.ts, self.recv_us, self.key, self.data, self.params = ts, recv_us, key, data, params
        self.after_loss = after_loss

    def __repr__(self) -> str:
        return f"AccessUnit(ts={self.ts}, key={self.key}, {len(self.data)} bytes, params={self.params is not None})"


class AudioUnit:
    """One audio frame (AAC) or packet (G.711): its bytes, RTP timestamp, sample count and receipt time."""

    __slots__ = ("ts", "recv_us", "data", "samples")

    def __init__(self, ts: int, recv_us: int, data: bytes, samples: int) -> None:
        self.ts, self.recv_us, self.data, self.samples = ts, recv_us, data, samples

    def __repr__(self) -> str:
        return f"AudioUnit(ts={self.ts}, {self.samples} samples, {len(self.data)} bytes)"
