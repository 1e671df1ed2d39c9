"""Per-camera fault switches that the simulated RTSP server reads live."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

#: A ``timestamp_jump`` is applied only after a session has streamed this long,
#: so a client always sees some frames before the discontinuity.
JUMP_MIN_PLAY_S = 1.0


@dataclass
class Faults:
    """Mutable fault switches for one simulated camera.

    The server reads these on every request and every media frame, so tests
    can flip them at any time while clients are connected.

    Attributes:
        drop_after: close the RTSP connection this many seconds after PLAY
            (measured from each session's PLAY); ``None`` disables.
        stall: keep the connection open (RTSP requests are still answered)
            but send no RTP/RTCP; media resumes at the next keyframe when
            cleared, with timestamps that reflect the gap.
        unauthorized: answer 401 to every request, even with valid credentials.
        garbage: while set, write bytes that are neither RTSP nor valid
            ``$``-interleaved RTP (or, for UDP, not RTP version 2) before
            every frame.
        timestamp_jump: jump the RTP timestamps forward by this many seconds.
            Each assignment is one jump event: every session that is playing
            applies it once (after at least ``JUMP_MIN_PLAY_S`` of streaming);
            sessions that start after some session already applied it ignore it.
        resolution_change: while set, streams switch to the alternate
            resolution clip (960x540) at the next keyframe, with new SPS/PPS
            in-band; clearing it switches back at the next keyframe.
    """

    drop_after: float | None = None
    stall: bool = False
    unauthorized: bool = False
    garbage: bool = False
    timestamp_jump: float | None = None
    resolution_change: bool = False
    _jump_generation: int = field(default=0, init=False, repr=False, compare=False)
    _jump_applied_generation: int = field(default=0, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "timestamp_jump" and value is not None:
            super().__setattr__("_jump_generation", self._jump_generation + 1)
        super().__setattr__(name, value)

    @property
    def jump_generation(self) -> int:
        """Counter bumped on every non-``None`` assignment to ``timestamp_jump``."""
        return self._jump_generation

    @property
    def jump_already_applied(self) -> bool:
        """True when some session has applied the current jump event."""
        return self._jump_applied_generation == self._jump_generation

    def mark_jump_applied(self, generation: int) -> None:
        """Record that a session applied jump event ``generation``."""
        if generation > self._jump_applied_generation:
            object.__setattr__(self, "_jump_applied_generation", generation)

    def reset(self) -> None:
        """Clear every fault switch."""
        for f in fields(self):
            if f.init:
                setattr(self, f.name, f.default)

    def active(self) -> dict[str, Any]:
        """Return the switches that are currently set (for logging)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if f.init and getattr(self, f.name) not in (None, False)
        }
